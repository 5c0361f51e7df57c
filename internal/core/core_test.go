package core

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// devCore returns an unsealed core with KV v2 at secret/ and its root token.
func devCore(t *testing.T) (*Core, string) {
	t.Helper()
	c := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	_, root, err := c.DevInit(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	return c, root
}

func do(c *Core, tok string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: op, Path: path, ClientToken: tok, Data: data})
}

// tokenWith writes a policy and returns a token holding only it.
func tokenWith(t *testing.T, c *Core, root, name, hcl string) string {
	t.Helper()
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/"+name, map[string]any{"policy": hcl}); err != nil {
		t.Fatal(err)
	}
	resp, err := do(c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{name}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Auth.ClientToken
}

func TestCreateVersusUpdate(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	if _, err := do(c, root, logical.UpdateOperation, "secret/data/exists", map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	createOnly := tokenWith(t, c, root, "create-only", `path "secret/data/*" { capabilities = ["create"] }`)
	updateOnly := tokenWith(t, c, root, "update-only", `path "secret/data/*" { capabilities = ["update"] }`)
	body := map[string]any{"data": map[string]any{"a": "2"}}
	cases := map[string]struct {
		tok, path string
		allowed   bool
	}{
		"create new with create":      {createOnly, "secret/data/new-1", true},
		"update existing with create": {createOnly, "secret/data/exists", false},
		"create new with update":      {updateOnly, "secret/data/new-2", false},
		"update existing with update": {updateOnly, "secret/data/exists", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := do(c, tc.tok, logical.UpdateOperation, tc.path, body)
			if tc.allowed != (err == nil) {
				t.Fatalf("err = %v, allowed = %v", err, tc.allowed)
			}
			if err != nil && !errors.Is(err, logical.ErrPermissionDenied) {
				t.Fatalf("err = %v, want permission denied", err)
			}
		})
	}
}

func TestSudoPaths(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	noSudo := tokenWith(t, c, root, "ops", `path "sys/*" { capabilities = ["create", "read", "update", "delete", "list"] }`)
	withSudo := tokenWith(t, c, root, "ops-sudo", `path "sys/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`)
	if _, err := do(c, noSudo, logical.UpdateOperation, "sys/rotate", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("rotate without sudo: %v", err)
	}
	if _, err := do(c, withSudo, logical.UpdateOperation, "sys/rotate", nil); err != nil {
		t.Fatalf("rotate with sudo: %v", err)
	}
	if _, err := do(c, noSudo, logical.ReadOperation, "sys/key-status", nil); err != nil {
		t.Fatalf("key-status needs no sudo: %v", err)
	}
	if _, err := do(c, noSudo, logical.UpdateOperation, "sys/auth/other", map[string]any{"type": "token"}); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("enabling auth without sudo: %v", err)
	}
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	if _, err := do(c, root, logical.ReadOperation, "nowhere/x", nil); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Fatalf("root on unknown mount: %v", err)
	}
	if _, err := do(c, "", logical.ReadOperation, "nowhere/x", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("no token must not learn which mounts exist: %v", err)
	}
}

func TestSealedCoreAnswersSealed(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	if err := c.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c.Sealed() {
		t.Fatal("not sealed")
	}
	if _, err := do(c, root, logical.ReadOperation, "secret/data/x", nil); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("sealed read: %v", err)
	}
	resp, err := do(c, "", logical.ReadOperation, "sys/seal-status", nil)
	if err != nil || resp.Raw == nil {
		t.Fatalf("seal-status while sealed: %v %v", resp, err)
	}
}

func TestPolicyChangeAppliesAtOnce(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	tok := tokenWith(t, c, root, "p", `path "secret/data/a" { capabilities = ["read"] }`)
	if _, err := do(c, root, logical.UpdateOperation, "secret/data/b", map[string]any{"data": map[string]any{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, tok, logical.ReadOperation, "secret/data/b", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("before change: %v", err)
	}
	if _, err := do(c, root, logical.UpdateOperation, "sys/policies/acl/p", map[string]any{"policy": `path "secret/data/*" { capabilities = ["read"] }`}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, tok, logical.ReadOperation, "secret/data/b", nil); err != nil {
		t.Fatalf("after change: %v", err)
	}
}

// TestBoundCIDRsFollowTheToken: a user bound to 10.0.0.0/8 gets a token
// that works only from there, and so do the tokens it creates.
func TestBoundCIDRsFollowTheToken(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	call := func(tok, remote string, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
		return c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: op, Path: path, ClientToken: tok, Data: data, RemoteAddr: remote})
	}
	if _, err := do(c, root, logical.UpdateOperation, "sys/auth/up", map[string]any{"type": "userpass"}); err != nil {
		t.Fatal(err)
	}
	tokenWith(t, c, root, "minter", `path "auth/token/create" { capabilities = ["update"] }`)
	if _, err := do(c, root, logical.UpdateOperation, "auth/up/users/alice", map[string]any{
		"password": "pw-alice-1", "token_policies": "minter", "token_bound_cidrs": "10.0.0.0/8",
	}); err != nil {
		t.Fatal(err)
	}
	login, err := call("", "10.1.2.3:1000", logical.UpdateOperation, "auth/up/login/alice", map[string]any{"password": "pw-alice-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok := login.Auth.ClientToken
	if _, err := call(tok, "10.9.9.9:2000", logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("inside the CIDR: %v", err)
	}
	if _, err := call(tok, "192.168.1.1:2000", logical.ReadOperation, "auth/token/lookup-self", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("outside the CIDR: %v", err)
	}
	child, err := call(tok, "10.1.1.1:3000", logical.UpdateOperation, "auth/token/create", map[string]any{"policies": []any{"minter"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(child.Auth.ClientToken, "192.168.1.1:2000", logical.ReadOperation, "auth/token/lookup-self", nil); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("a child of a bound token escaped the CIDR: %v", err)
	}
}
