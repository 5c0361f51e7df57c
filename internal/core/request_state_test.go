package core

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// The token store hands the core a shared, read-only entry for tokens of
// unlimited uses (token.Store.Use). These tests hold the core to what that
// must not change: a revoked token is refused at once, num_uses is still
// exact under concurrency, a policy change applies to the next request,
// and no request changes the shared entry.

func writeSecret(t *testing.T, c *Core, root, path string) {
	t.Helper()
	if _, err := do(c, root, logical.UpdateOperation, path, map[string]any{"data": map[string]any{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
}

func TestRevokedTokenRefusedAtOnce(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	writeSecret(t, c, root, "secret/data/a")
	tok := tokenWith(t, c, root, "r", `path "secret/data/*" { capabilities = ["read"] }`)
	for range 3 { // warm the token cache
		if _, err := do(c, tok, logical.ReadOperation, "secret/data/a", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := do(c, root, logical.UpdateOperation, "auth/token/revoke", map[string]any{"token": tok}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, tok, logical.ReadOperation, "secret/data/a", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("read with a revoked token: %v", err)
	}
}

func TestNumUsesExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	writeSecret(t, c, root, "secret/data/a")
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/r", map[string]any{"policy": `path "secret/data/*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	resp, err := do(c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"r"}, "num_uses": 5})
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.Auth.ClientToken
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := do(c, tok, logical.ReadOperation, "secret/data/a", nil); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, logical.ErrPermissionDenied) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d reads served with a num_uses=5 token", ok.Load())
	}
}

func TestPolicyNarrowedAppliesAtOnce(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	writeSecret(t, c, root, "secret/data/a")
	tok := tokenWith(t, c, root, "p", `path "secret/data/*" { capabilities = ["read"] }`)
	for range 3 {
		if _, err := do(c, tok, logical.ReadOperation, "secret/data/a", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/p", map[string]any{"policy": `path "secret/data/b" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, tok, logical.ReadOperation, "secret/data/a", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("read after the policy lost the path: %v", err)
	}
}

// TestRequestsLeaveSharedEntryAlone runs the requests that see a token's
// entry (reads, writes, lookup-self, capabilities, child tokens) and
// checks the shared entry is what it was.
func TestRequestsLeaveSharedEntryAlone(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/rw", map[string]any{"policy": `
path "secret/*" { capabilities = ["create", "read", "update", "list"] }
path "auth/token/create" { capabilities = ["update"] }`}); err != nil {
		t.Fatal(err)
	}
	resp, err := do(c, root, logical.UpdateOperation, "auth/token/create", map[string]any{
		"policies": []any{"rw"}, "meta": map[string]any{"team": "a"}, "display_name": "app"})
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.Auth.ClientToken
	if _, err := do(c, tok, logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatal(err)
	}
	st := c.state.Load()
	shared, err := st.tokens.Use(context.Background(), tok)
	if err != nil || shared == nil {
		t.Fatalf("use: %v %v", shared, err)
	}
	if again, _ := st.tokens.Use(context.Background(), tok); again != shared {
		t.Fatal("the entry is not shared; this test checks nothing")
	}
	before := *shared.Clone()
	for _, r := range []struct {
		op   logical.Operation
		path string
		data map[string]any
	}{
		{logical.UpdateOperation, "secret/data/x", map[string]any{"data": map[string]any{"k": "v"}}},
		{logical.ReadOperation, "secret/data/x", nil},
		{logical.ListOperation, "secret/metadata/", nil},
		{logical.ReadOperation, "auth/token/lookup-self", nil},
		{logical.UpdateOperation, "sys/capabilities-self", map[string]any{"paths": []any{"secret/data/x"}}},
		{logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"rw"}}},
	} {
		if _, err := do(c, tok, r.op, r.path, r.data); err != nil {
			t.Fatalf("%s %s: %v", r.op, r.path, err)
		}
	}
	if !reflect.DeepEqual(*shared, before) {
		t.Fatalf("a request changed the shared token entry:\n got %+v\nwant %+v", *shared, before)
	}
}
