package core

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/logical"
)

// Random policy sets (tokens may name any, even policies that do not exist)
// cannot grow the ACL cache without bound; a set still in the cache is
// served from it.
func TestACLCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := newPolicyStore(logical.NewInmemStorage())
	if err := ps.PutPolicy(ctx, "dev", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * aclCacheSize {
		if _, err := ps.ACL(ctx, []string{"default", "dev", fmt.Sprintf("random-%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := ps.cachedACLs(); n > aclCacheSize {
		t.Fatalf("%d ACLs cached after %d distinct sets; the bound is %d", n, 3*aclCacheSize, aclCacheSize)
	}
	hot := []string{"default", "dev"}
	first, err := ps.ACL(ctx, hot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ps.ACL(ctx, hot, nil); again != first {
		t.Fatal("a cached set was rebuilt")
	}
	if caps := first.Capabilities("secret/x"); len(caps) != 1 || caps[0] != "read" {
		t.Fatalf("capabilities %v", caps)
	}
}

// TestHotACLSurvivesChurn: a set used between every new set of a full
// cache stays cached (the same ACL, not rebuilt), though most of its hits
// take only the read lock; a policy write still drops it.
func TestHotACLSurvivesChurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := newPolicyStore(logical.NewInmemStorage())
	if err := ps.PutPolicy(ctx, "dev", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	hot := []string{"default", "dev"}
	first, err := ps.ACL(ctx, hot, nil)
	if err != nil {
		t.Fatal(err)
	}
	moves := ps.moves.Load()
	for i := range 3 * aclCacheSize {
		if _, err := ps.ACL(ctx, []string{"default", fmt.Sprintf("random-%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
		if again, _ := ps.ACL(ctx, hot, nil); again != first {
			t.Fatalf("the hot set was rebuilt after %d other sets", i+1)
		}
	}
	if promoted := ps.moves.Load() - moves - 3*aclCacheSize; promoted == 0 || promoted > 3*aclCacheSize/aclPromoteAfter {
		t.Fatalf("%d promotions of the hot set in %d hits, want 1 to %d", promoted, 3*aclCacheSize, 3*aclCacheSize/aclPromoteAfter)
	}
	if err := ps.PutPolicy(ctx, "dev", `path "secret/*" { capabilities = ["list"] }`); err != nil {
		t.Fatal(err)
	}
	after, err := ps.ACL(ctx, hot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps := after.Capabilities("secret/x"); after == first || len(caps) != 1 || caps[0] != "list" {
		t.Fatalf("after a policy write the set's capabilities are %v (rebuilt: %v)", caps, after != first)
	}
}

// TestTemplatedACLCacheKeysOnEntity is the regression test for the ACL
// cache and templated policies: two entities holding the same policy set
// must each get their own resolved paths, in either order, from a warm
// cache; a change to an entity's metadata must reach its next ACL; and a
// token without an entity gets none of the templated paths.
func TestTemplatedACLCacheKeysOnEntity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := newPolicyStore(logical.NewInmemStorage())
	const tpl = `path "secret/data/{{identity.entity.metadata.namespace}}/*" { capabilities = ["read"] }
path "secret/data/common" { capabilities = ["read"] }`
	if err := ps.PutPolicy(ctx, "ns", tpl); err != nil {
		t.Fatal(err)
	}
	ids := identity.New(identity.Config{Storage: logical.NewInmemStorage()})
	entity := func(name, ns string) *identity.Entity {
		e, _, err := ids.UpsertEntity(ctx, identity.EntityUpdate{Name: name, Metadata: &map[string]string{"namespace": ns}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := entity("a", "team-a"), entity("b", "team-b")
	names := []string{"default", "ns"}
	caps := func(ent *identity.Entity, path string) string {
		acl, err := ps.ACL(ctx, names, ent)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(acl.Capabilities(path), ",")
	}
	for round := range 2 { // the second round is served from the cache
		for _, tc := range []struct {
			ent        *identity.Entity
			own, other string
		}{{a, "team-a", "team-b"}, {b, "team-b", "team-a"}, {a, "team-a", "team-b"}} {
			if got := caps(tc.ent, "secret/data/"+tc.own+"/db"); got != "read" {
				t.Fatalf("round %d, %s on its own path: %s", round, tc.ent.Name, got)
			}
			if got := caps(tc.ent, "secret/data/"+tc.other+"/db"); got != "deny" {
				t.Fatalf("round %d, %s on the other's path: %s (the cache served another entity's ACL)", round, tc.ent.Name, got)
			}
		}
	}
	if got := caps(nil, "secret/data/team-a/db"); got != "deny" {
		t.Fatalf("no entity: %s", got)
	}
	if got := caps(nil, "secret/data/common"); got != "read" {
		t.Fatalf("no entity, plain rule: %s", got)
	}
	moved := entity("a", "team-c")
	if moved.ID != a.ID || caps(moved, "secret/data/team-c/db") != "read" || caps(moved, "secret/data/team-a/db") != "deny" {
		t.Fatal("a metadata change did not reach the entity's ACL")
	}
}

// TestACLCacheKeyHasNoCollisions: a token may carry a policy name with a
// NUL in it (a role's allowed_policies_glob admits it); its set must not
// get the cached ACL of the set its name splits into, in either order.
func TestACLCacheKeyHasNoCollisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := newPolicyStore(logical.NewInmemStorage())
	for name, path := range map[string]string{"team-a": "team-a/*", "writer": "crown/*"} {
		if err := ps.PutPolicy(ctx, name, `path "secret/data/`+path+`" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
	}
	victim := []string{"default", "team-a", "writer"}
	forged := []string{"default", "team-a\x00writer"}
	for _, order := range [][][]string{{victim, forged}, {forged, victim}} {
		ps.invalidate()
		for _, names := range order {
			acl, err := ps.ACL(ctx, names, nil)
			if err != nil {
				continue // refusing the forged set outright is fine too
			}
			got := acl.Capabilities("secret/data/crown/jewels")
			want := len(names) == 3
			if granted := len(got) > 0 && got[0] != "deny"; granted != want {
				t.Fatalf("set %q: capabilities on crown/jewels %v, want granted %v", names, got, want)
			}
		}
	}
}
