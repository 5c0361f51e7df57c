package core

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// benchPolicies are a plain policy and its templated twin: the same rules,
// one path pattern naming the caller's namespace through its entity.
var benchPolicies = map[string]string{
	"plain": `path "secret/data/team-a/*" { capabilities = ["read"] }
path "secret/metadata/team-a/*" { capabilities = ["list"] }`,
	"templated": `path "secret/data/{{identity.entity.metadata.namespace}}/*" { capabilities = ["read"] }
path "secret/metadata/{{identity.entity.metadata.namespace}}/*" { capabilities = ["list"] }`,
}

// benchLogin returns a core with a userpass user holding policy, logged
// in, whose entity has namespace=team-a, and the login's token.
func benchLogin(b *testing.B, policy string) (*Core, string) {
	b.Helper()
	c := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	_, root, err := c.DevInit(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Seal(context.Background()) })
	steps := []struct {
		path string
		data map[string]any
	}{
		{"sys/auth/userpass", map[string]any{"type": "userpass"}},
		{"sys/policies/acl/p", map[string]any{"policy": benchPolicies[policy]}},
		{"auth/userpass/users/alice", map[string]any{"password": "pw", "token_policies": "p"}},
		{"secret/data/team-a/db", map[string]any{"data": map[string]any{"k": "v"}}},
	}
	for _, s := range steps {
		if _, err := do(c, root, logical.UpdateOperation, s.path, s.data); err != nil {
			b.Fatal(err)
		}
	}
	login, err := do(c, "", logical.UpdateOperation, "auth/userpass/login/alice", map[string]any{"password": "pw"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := do(c, root, logical.UpdateOperation, "identity/entity/id/"+login.Auth.EntityID,
		map[string]any{"metadata": map[string]any{"namespace": "team-a"}}); err != nil {
		b.Fatal(err)
	}
	return c, login.Auth.ClientToken
}

// BenchmarkTokenACLCheck is the authorisation step alone, as every request
// takes it: the token's entity, its ACL from the cache and the decision on
// one path, for a plain and a templated policy.
func BenchmarkTokenACLCheck(b *testing.B) {
	for _, policy := range []string{"plain", "templated"} {
		b.Run(policy, func(b *testing.B) {
			c, tok := benchLogin(b, policy)
			ctx := context.Background()
			st := c.state.Load()
			te, err := st.tokens.Lookup(ctx, tok)
			if err != nil || te == nil || te.EntityID == "" {
				b.Fatalf("token: %+v %v", te, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				acl, err := tokenACL(ctx, st, te)
				if err != nil || !acl.Allowed(logical.ReadOperation, "secret/data/team-a/db").Allowed {
					b.Fatal("denied", err)
				}
			}
		})
	}
}

// BenchmarkKVReadPolicy is a whole KV v2 read through the core (token,
// ACL, router, engine, barrier, in-memory storage) by a userpass login's
// token, under a plain and a templated policy.
func BenchmarkKVReadPolicy(b *testing.B) {
	for _, policy := range []string{"plain", "templated"} {
		b.Run(policy, func(b *testing.B) {
			c, tok := benchLogin(b, policy)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				resp, err := do(c, tok, logical.ReadOperation, "secret/data/team-a/db", nil)
				if err != nil || resp == nil {
					b.Fatal(fmt.Sprint(i), err)
				}
			}
		})
	}
}
