package core

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/token"
)

// benchPolicies are a plain policy and its templated twin: the same rules,
// one path pattern naming the caller's namespace through its entity.
var benchPolicies = map[string]string{
	"plain": `path "secret/data/team-a/*" { capabilities = ["read"] }
path "secret/metadata/team-a/*" { capabilities = ["list"] }`,
	"templated": `path "secret/data/{{identity.entity.metadata.namespace}}/*" { capabilities = ["read"] }
path "secret/metadata/{{identity.entity.metadata.namespace}}/*" { capabilities = ["list"] }`,
}

// benchLogin returns a core with policy written as "p" and a token such as
// a login would get: policy p and an entity with namespace=team-a. The
// token is issued directly (no bcrypt), so setup stays small next to the
// measured loop.
func benchLogin(b *testing.B, policy string) (*Core, string) {
	b.Helper()
	c := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	ctx := context.Background()
	_, root, err := c.DevInit(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Seal(context.Background()) })
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/p", map[string]any{"policy": benchPolicies[policy]}); err != nil {
		b.Fatal(err)
	}
	if _, err := do(c, root, logical.UpdateOperation, "secret/data/team-a/db", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		b.Fatal(err)
	}
	ent, err := do(c, root, logical.UpdateOperation, "identity/entity", map[string]any{"metadata": map[string]any{"namespace": "team-a"}})
	if err != nil {
		b.Fatal(err)
	}
	auth := &logical.Auth{Policies: []string{"p"}, EntityID: ent.Data["id"].(string)}
	if _, err := c.state.Load().tokens.CreateFromAuth(ctx, auth, "auth/userpass/login/alice"); err != nil {
		b.Fatal(err)
	}
	return c, auth.ClientToken
}

// BenchmarkTokenACLCheck is the authorisation step alone, as every request
// takes it: the token's entity, its ACL from the cache and the decision on
// one path, for a plain and a templated policy. It runs on the policy and
// identity stores by themselves (no server, so no background goroutines),
// which makes its instruction count deterministic under cachegrind.
func BenchmarkTokenACLCheck(b *testing.B) {
	for _, policy := range []string{"plain", "templated"} {
		b.Run(policy, func(b *testing.B) {
			ctx := context.Background()
			st := &active{
				policies: newPolicyStore(logical.NewInmemStorage()),
				identity: identity.New(identity.Config{Storage: logical.NewInmemStorage()}),
			}
			if err := st.policies.PutPolicy(ctx, "p", benchPolicies[policy]); err != nil {
				b.Fatal(err)
			}
			ent, _, err := st.identity.UpsertEntity(ctx, identity.EntityUpdate{Metadata: &map[string]string{"namespace": "team-a"}})
			if err != nil {
				b.Fatal(err)
			}
			te := &token.Entry{Policies: []string{"default", "p"}, EntityID: ent.ID}
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
