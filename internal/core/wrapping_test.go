package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cubbyhole"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/wrapping"
)

// cubbyholeOwners lists the owners of cubbyholes in the barrier.
func cubbyholeOwners(t *testing.T, c *Core) []string {
	t.Helper()
	keys, err := logical.NewView(c.barrier, cubbyholePrefix).List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestCubbyholeGoesWithItsToken checks the wiring of the token store's
// revocation to the cubbyholes: a wrapped response's cubbyhole is gone
// once it is unwrapped, and a token's own cubbyhole once it is revoked.
func TestCubbyholeGoesWithItsToken(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	ctx := context.Background()
	tok := tokenWith(t, c, root, "plain", `path "x" { capabilities = ["read"] }`)
	if _, err := do(c, tok, logical.UpdateOperation, "cubbyhole/k", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	wrapped, err := c.HandleRequest(ctx, &logical.Request{ID: "w", Operation: logical.UpdateOperation, Path: "sys/wrapping/wrap",
		ClientToken: root, Data: map[string]any{"a": "b"}, WrapTTL: time.Minute})
	if err != nil || wrapped.WrapInfo == nil {
		t.Fatalf("wrap: %+v %v", wrapped, err)
	}
	if n := len(cubbyholeOwners(t, c)); n != 2 {
		t.Fatalf("%d cubbyholes, want 2", n)
	}
	if _, err := do(c, wrapped.WrapInfo.Token, logical.UpdateOperation, "sys/wrapping/unwrap", nil); err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	if n := len(cubbyholeOwners(t, c)); n != 1 {
		t.Fatalf("%d cubbyholes after unwrap, want 1", n)
	}
	if _, err := do(c, root, logical.UpdateOperation, "auth/token/revoke", map[string]any{"token": tok}); err != nil {
		t.Fatal(err)
	}
	if owners := cubbyholeOwners(t, c); len(owners) != 0 {
		t.Fatalf("cubbyholes after revoke: %v", owners)
	}
}

// TestWrapErrorsComeFirst checks that a bad wrapping token is Vault's 400
// both before a body is read (Admit) and when the request is handled,
// instead of the 403 of authorisation.
func TestWrapErrorsComeFirst(t *testing.T) {
	t.Parallel()
	c, _ := devCore(t)
	req := &logical.Request{Operation: logical.UpdateOperation, Path: "sys/wrapping/unwrap", ClientToken: "s.used-up"}
	if _, err := c.Admit(context.Background(), req); !errors.Is(err, wrapping.ErrInvalidToken) {
		t.Fatalf("admit: %v", err)
	}
	if _, err := c.HandleRequest(context.Background(), req); !errors.Is(err, wrapping.ErrInvalidToken) {
		t.Fatalf("handle: %v", err)
	}
	other := &logical.Request{Operation: logical.ReadOperation, Path: "secret/data/x", ClientToken: "s.used-up"}
	if _, err := c.Admit(context.Background(), other); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("admit elsewhere: %v", err)
	}
}

// TestCubbyholeMountAddedToOldTables checks that a server whose mount table
// predates cubbyholes gains cubbyhole/ at its next unseal, once.
func TestCubbyholeMountAddedToOldTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := inmem.New()
	c := New(Config{Physical: p, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	keys, _, err := c.DevInit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the table as an older server left it.
	var entries []*system.MountInfo
	if _, err := logical.GetJSON(ctx, c.barrier, secretsTableKey, &entries); err != nil {
		t.Fatal(err)
	}
	var old []*system.MountInfo
	for _, e := range entries {
		if e.Type != cubbyholeTypeName {
			old = append(old, e)
		}
	}
	if len(old) != len(entries)-1 {
		t.Fatalf("a new table has no cubbyhole: %d entries", len(entries))
	}
	if err := logical.PutJSON(ctx, c.barrier, secretsTableKey, old); err != nil {
		t.Fatal(err)
	}
	_ = c.Seal(ctx)
	if _, err := c.Unseal(ctx, keys, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Seal(ctx) })
	var count int
	for _, m := range c.state.Load().mounts.ListMounts(system.SecretsTable) {
		if m.Type == cubbyholeTypeName && m.Path == "cubbyhole/" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d cubbyhole mounts after unseal", count)
	}
}

// TestTidyCubbyholes: a cubbyhole whose token is gone (a crash between the
// two deletions) is destroyed by the unseal's tidy; a live token's stays.
func TestTidyCubbyholes(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	ctx := context.Background()
	if _, err := do(c, root, logical.UpdateOperation, "cubbyhole/k", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	orphan := cubbyhole.NewStore(logical.NewView(c.barrier, cubbyholePrefix))
	if err := orphan.Put(ctx, "0123abcd", "response", map[string]any{"response": "{}"}); err != nil {
		t.Fatal(err)
	}
	st := c.state.Load()
	c.tidyCubbyholes(ctx, orphan, st.tokens)
	if owners := cubbyholeOwners(t, c); len(owners) != 1 || owners[0] != st.tokens.HashID(root)+"/" {
		t.Fatalf("owners after tidy: %v", owners)
	}
}
