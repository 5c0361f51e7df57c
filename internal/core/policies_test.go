package core

import (
	"context"
	"fmt"
	"testing"

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
		if _, err := ps.ACL(ctx, []string{"default", "dev", fmt.Sprintf("random-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ps.cachedACLs(); n > aclCacheSize {
		t.Fatalf("%d ACLs cached after %d distinct sets; the bound is %d", n, 3*aclCacheSize, aclCacheSize)
	}
	hot := []string{"default", "dev"}
	first, err := ps.ACL(ctx, hot)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ps.ACL(ctx, hot); again != first {
		t.Fatal("a cached set was rebuilt")
	}
	if caps := first.Capabilities("secret/x"); len(caps) != 1 || caps[0] != "read" {
		t.Fatalf("capabilities %v", caps)
	}
}
