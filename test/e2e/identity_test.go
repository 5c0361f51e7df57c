package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// authAccessor returns the accessor of the auth mount at path ("userpass/").
func authAccessor(t *testing.T, c *api.Client, path string) string {
	t.Helper()
	auths, err := c.Sys().ListAuth()
	if err != nil || auths[path] == nil || auths[path].Accessor == "" {
		t.Fatalf("auth mounts: %v %v", auths, err)
	}
	return auths[path].Accessor
}

// userpassLogin logs name in and returns the login's auth block.
func userpassLogin(t *testing.T, s *server, name string) *api.SecretAuth {
	t.Helper()
	login, err := s.as(t, "").Logical().Write("auth/userpass/login/"+name, map[string]any{"password": "pw-" + strings.ToLower(name)})
	if err != nil || login == nil || login.Auth == nil {
		t.Fatalf("login %s: %+v %v", name, login, err)
	}
	return login.Auth
}

// TestTemplatedPolicyConfinesNamespaces is the "done means": one
// templated policy serves two namespaces, each user reading only its own.
// The namespace reaches the entity three ways: as alias metadata a login
// reported (what the kubernetes method will report), as alias custom
// metadata an operator set through identity/entity-alias, and as entity
// metadata set through identity/entity. Callers whose namespace is "+" (a
// segment wildcard if substituted), "*" or "team-a/*" read nothing: a value
// cannot widen the rule.
// sys/capabilities-self and the UI mount listing must agree with the
// requests.
func TestTemplatedPolicyConfinesNamespaces(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		template string // the directive, with ACC for the mount accessor
		// setup makes the users and returns each one's token
		setup func(t *testing.T, s *server, acc string, ns map[string]string) map[string]string
	}{
		"alias metadata from the login": {
			template: "identity.entity.aliases.ACC.metadata.namespace",
			setup: func(t *testing.T, s *server, _ string, ns map[string]string) map[string]string {
				toks := map[string]string{}
				for user, n := range ns {
					login, err := s.as(t, "").Logical().Write("auth/trust/login", map[string]any{
						"policies": "ns", "alias": user, "alias_metadata": map[string]any{"namespace": n},
					})
					if err != nil {
						t.Fatalf("login %s: %v", user, err)
					}
					toks[user] = login.Auth.ClientToken
				}
				return toks
			},
		},
		"alias custom metadata": {
			template: "identity.entity.aliases.ACC.custom_metadata.namespace",
			setup: func(t *testing.T, s *server, acc string, ns map[string]string) map[string]string {
				toks := map[string]string{}
				for user, n := range ns {
					addUser(t, s, user, "ns")
					if _, err := s.client.Logical().Write("identity/entity-alias", map[string]any{
						"name": user, "mount_accessor": acc, "custom_metadata": map[string]any{"namespace": n},
					}); err != nil {
						t.Fatalf("alias %s: %v", user, err)
					}
					toks[user] = userpassLogin(t, s, user).ClientToken
				}
				return toks
			},
		},
		"entity metadata": {
			template: "identity.entity.metadata.namespace",
			setup: func(t *testing.T, s *server, _ string, ns map[string]string) map[string]string {
				toks := map[string]string{}
				for user, n := range ns {
					addUser(t, s, user, "ns")
					auth := userpassLogin(t, s, user)
					if _, err := s.client.Logical().Write("identity/entity/id/"+auth.EntityID, map[string]any{
						"metadata": []any{"namespace=" + n},
					}); err != nil {
						t.Fatalf("entity metadata %s: %v", user, err)
					}
					toks[user] = auth.ClientToken
				}
				return toks
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startWithTrust(t, inmem.New())
			if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
				t.Fatal(err)
			}
			acc := authAccessor(t, s.client, "userpass/")
			if strings.Contains(name, "from the login") {
				acc = authAccessor(t, s.client, "trust/")
			}
			directive := strings.ReplaceAll(tc.template, "ACC", acc)
			policy := fmt.Sprintf("path \"secret/data/{{%s}}/*\" {\n  capabilities = [\"read\"]\n}\n", directive)
			if err := s.client.Sys().PutPolicy("ns", policy); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, n := range []string{"team-a", "team-b"} {
				if _, err := s.client.KVv2("secret").Put(ctx, n+"/db", map[string]any{"owner": n}); err != nil {
					t.Fatal(err)
				}
			}
			toks := tc.setup(t, s, acc, map[string]string{"alice": "team-a", "bob": "team-b", "mallory": "+", "eve": "team-a/*", "oscar": "*"})
			for user, own := range map[string]string{"alice": "team-a", "bob": "team-b", "mallory": "", "eve": "", "oscar": ""} {
				c := s.as(t, toks[user])
				for _, n := range []string{"team-a", "team-b"} {
					got, err := c.KVv2("secret").Get(ctx, n+"/db")
					caps, cerr := c.Sys().CapabilitiesSelf("secret/data/" + n + "/db")
					if n == own {
						if err != nil || got.Data["owner"] != n || cerr != nil || !slices.Equal(caps, []string{"read"}) {
							t.Fatalf("%s reading its own %s: %v %v; capabilities %v %v", user, n, got, err, caps, cerr)
						}
						continue
					}
					if statusOf(err) != http.StatusForbidden || cerr != nil || !slices.Equal(caps, []string{"deny"}) {
						t.Fatalf("%s reading %s: %v (status %d); capabilities %v %v", user, n, err, statusOf(err), caps, cerr)
					}
				}
				// The UI lists secret/ for those the policy resolves for.
				status := rawStatus(t, s, http.MethodGet, "sys/internal/ui/mounts/secret", toks[user])
				if want := map[bool]int{true: 200, false: 403}[own != ""]; status != want {
					t.Fatalf("%s: UI mount lookup %d, want %d", user, status, want)
				}
			}
		})
	}
}

// addUser writes a userpass user with password pw-<name> and policies.
func addUser(t *testing.T, s *server, name, policies string) {
	t.Helper()
	if _, err := s.client.Logical().Write("auth/userpass/users/"+name, map[string]any{"password": "pw-" + name, "token_policies": policies}); err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
}

// TestIdentityStore drives identity/ with the published client: logins
// make entities that tokens carry (children too), entity policies apply at
// request time, a disabled or deleted entity refuses its tokens, and the
// store survives a seal.
func TestIdentityStore(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	sys := s.client.Sys()
	if err := sys.EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	acc := authAccessor(t, s.client, "userpass/")
	if err := sys.PutPolicy("reader", `path "secret/data/shared" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "shared", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.PutPolicy("maker", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "alice", "maker")

	// identity/ is a built-in mount, as in Vault.
	mounts, err := sys.ListMounts()
	if err != nil || mounts["identity/"] == nil || mounts["identity/"].Type != "identity" {
		t.Fatalf("mounts: %v %v", mounts, err)
	}
	if err := sys.Unmount("identity"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("disable identity/: %v", err)
	}

	login := userpassLogin(t, s, "alice")
	if login.EntityID == "" {
		t.Fatal("login token has no entity")
	}
	again := userpassLogin(t, s, "ALICE")
	if again.EntityID != login.EntityID {
		t.Fatalf("second login: entity %s, want %s", again.EntityID, login.EntityID)
	}
	alice := s.as(t, login.ClientToken)
	self, err := alice.Auth().Token().LookupSelf()
	if err != nil || self.Data["entity_id"] != login.EntityID {
		t.Fatalf("lookup-self: %+v %v", self, err)
	}
	child, err := alice.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil || child.Auth.EntityID != login.EntityID {
		t.Fatalf("child token: %+v %v", child, err)
	}

	// Read the entity and its alias as Vault shapes them.
	ent, err := s.client.Logical().Read("identity/entity/id/" + login.EntityID)
	if err != nil || ent == nil {
		t.Fatalf("read entity: %v", err)
	}
	aliases, _ := ent.Data["aliases"].([]any)
	if len(aliases) != 1 {
		t.Fatalf("entity aliases: %+v", ent.Data)
	}
	al := aliases[0].(map[string]any)
	if al["name"] != "alice" || al["mount_accessor"] != acc || al["mount_type"] != "userpass" || al["mount_path"] != "auth/userpass/" || al["canonical_id"] != login.EntityID {
		t.Fatalf("alias: %+v", al)
	}
	name := ent.Data["name"].(string)
	for path, body := range map[string]map[string]any{
		"identity/lookup/entity": {"alias_name": "alice", "alias_mount_accessor": acc},
	} {
		got, err := s.client.Logical().Write(path, body)
		if err != nil || got == nil || got.Data["id"] != login.EntityID {
			t.Fatalf("lookup: %+v %v", got, err)
		}
	}
	if byName, err := s.client.Logical().Read("identity/entity/name/" + name); err != nil || byName.Data["id"] != login.EntityID {
		t.Fatalf("read by name: %+v %v", byName, err)
	}
	list, err := s.client.Logical().List("identity/entity/id")
	if err != nil || list == nil || !slices.Contains(list.Data["keys"].([]any), any(login.EntityID)) {
		t.Fatalf("list: %+v %v", list, err)
	}
	if al, err := s.client.Logical().Read("identity/entity-alias/id/" + al["id"].(string)); err != nil || al.Data["name"] != "alice" {
		t.Fatalf("read alias: %+v %v", al, err)
	}

	// Entity policies join the token's at request time.
	if _, err := alice.KVv2("secret").Get(ctx, "shared"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("read before the entity policy: %v", err)
	}
	if _, err := s.client.Logical().Write("identity/entity/id/"+login.EntityID, map[string]any{"policies": "reader"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.KVv2("secret").Get(ctx, "shared"); err != nil {
		t.Fatalf("read with the entity policy: %v", err)
	}
	self, err = alice.Auth().Token().LookupSelf()
	if err != nil || fmt.Sprint(self.Data["identity_policies"]) != "[reader]" {
		t.Fatalf("identity_policies in lookup-self: %+v %v", self.Data, err)
	}
	fresh := userpassLogin(t, s, "alice")
	if !slices.Equal(fresh.IdentityPolicies, []string{"reader"}) || !slices.Contains(fresh.Policies, "reader") || slices.Contains(fresh.TokenPolicies, "reader") {
		t.Fatalf("login policies: %+v", fresh)
	}

	// Disabled: tokens (children too) and logins are refused; enabling again restores them.
	if _, err := s.client.Logical().Write("identity/entity/id/"+login.EntityID, map[string]any{"disabled": true}); err != nil {
		t.Fatal(err)
	}
	for who, tok := range map[string]string{"token": login.ClientToken, "child": child.Auth.ClientToken} {
		if _, err := s.as(t, tok).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
			t.Fatalf("%s of a disabled entity: %v", who, err)
		}
		if _, err := s.as(t, tok).Sys().CapabilitiesSelf("secret/data/shared"); statusOf(err) != http.StatusForbidden {
			t.Fatalf("%s capabilities of a disabled entity: %v", who, err)
		}
	}
	if _, err := s.as(t, "").Logical().Write("auth/userpass/login/alice", map[string]any{"password": "pw-alice"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("login of a disabled entity: %v", err)
	}
	if _, err := s.client.Logical().Write("identity/entity/id/"+login.EntityID, map[string]any{"disabled": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("token after enabling again: %v", err)
	}

	// The store is in the barrier: it survives a seal and unseal.
	if err := sys.Seal(); err != nil {
		t.Fatal(err)
	}
	s.unseal(t)
	if got, err := s.client.Logical().Read("identity/entity/id/" + login.EntityID); err != nil || got == nil || got.Data["name"] != name {
		t.Fatalf("after unseal: %+v %v", got, err)
	}
	if _, err := alice.KVv2("secret").Get(ctx, "shared"); err != nil {
		t.Fatalf("entity policy after unseal: %v", err)
	}

	// Deleted: its tokens stop working; a new login makes a new entity.
	if _, err := s.client.Logical().Delete("identity/entity/id/" + login.EntityID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("token of a deleted entity: %v", err)
	}
	if n := userpassLogin(t, s, "alice"); n.EntityID == "" || n.EntityID == login.EntityID {
		t.Fatalf("login after delete: entity %q", n.EntityID)
	}
}

// TestConcurrentFirstLogins: simultaneous first logins of one user over
// HTTP all get the same new entity.
func TestConcurrentFirstLogins(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "carol", "default")
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			login, err := s.as(t, "").Logical().Write("auth/userpass/login/carol", map[string]any{"password": "pw-carol"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = login.Auth.EntityID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("entities %v", ids)
		}
	}
	list, err := s.client.Logical().List("identity/entity/id")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("entities after concurrent logins: %+v %v", list, err)
	}
}
