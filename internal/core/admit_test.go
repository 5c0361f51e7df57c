package core

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/system"
)

var _ httpapi.Gate = (*Core)(nil)

func TestAdmit(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	if _, err := do(c, root, logical.UpdateOperation, "sys/auth/userpass", map[string]any{"type": "userpass"}); err != nil {
		t.Fatal(err)
	}
	once, err := do(c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"num_uses": 1})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := do(c, root, logical.UpdateOperation, "auth/token/create", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, root, logical.UpdateOperation, "auth/token/revoke", map[string]any{"token": revoked.Auth.ClientToken}); err != nil {
		t.Fatal(err)
	}
	batch, err := do(c, root, logical.UpdateOperation, "auth/token/create", map[string]any{"type": "batch", "policies": []any{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	// A token whose entity is disabled is refused before its body is read.
	if _, err := do(c, root, logical.UpdateOperation, "auth/userpass/users/alice", map[string]any{"password": "pw"}); err != nil {
		t.Fatal(err)
	}
	login, err := do(c, "", logical.UpdateOperation, "auth/userpass/login/alice", map[string]any{"password": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do(c, root, logical.UpdateOperation, "identity/entity/id/"+login.Auth.EntityID, map[string]any{"disabled": true}); err != nil {
		t.Fatal(err)
	}
	sealed := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	type admitCase struct {
		core        *Core
		path, token string
		wantUnauth  bool
		wantErr     error
	}
	cases := map[string]admitCase{
		"pre-auth sys path":          {core: c, path: "sys/unseal", wantUnauth: true},
		"pre-auth while sealed":      {core: sealed, path: "sys/init", wantUnauth: true},
		"login":                      {core: c, path: "auth/userpass/login/alice", wantUnauth: true},
		"login with a token too":     {core: c, path: "auth/userpass/login/alice", token: "s.whatever", wantUnauth: true},
		"sealed":                     {core: sealed, path: "secret/data/x", token: "s.any", wantErr: logical.ErrSealed},
		"no token":                   {core: c, path: "secret/data/x", wantErr: logical.ErrPermissionDenied},
		"no token, sys path":         {core: c, path: "sys/policies/acl/p", wantErr: logical.ErrPermissionDenied},
		"no token, no mount":         {core: c, path: "nowhere/x", wantErr: logical.ErrPermissionDenied},
		"unknown token":              {core: c, path: "secret/data/x", token: "s.nosuchtoken", wantErr: logical.ErrPermissionDenied},
		"revoked token":              {core: c, path: "secret/data/x", token: revoked.Auth.ClientToken, wantErr: logical.ErrPermissionDenied},
		"valid token":                {core: c, path: "secret/data/x", token: root},
		"valid token, no mount":      {core: c, path: "nowhere/x", token: root},
		"one-use token, not used up": {core: c, path: "secret/data/x", token: once.Auth.ClientToken},
		"batch token":                {core: c, path: "secret/data/x", token: batch.Auth.ClientToken},
		"forged batch token":         {core: c, path: "secret/data/x", token: batch.Auth.ClientToken + "x", wantErr: logical.ErrPermissionDenied},
		"disabled entity":            {core: c, path: "secret/data/x", token: login.Auth.ClientToken, wantErr: logical.ErrPermissionDenied},
	}
	for _, p := range system.PreAuthPaths {
		cases["pre-auth sys/"+p] = admitCase{core: c, path: "sys/" + p, wantUnauth: true}
	}
	for _, p := range system.UnsealedPreAuthPaths {
		cases["unsealed pre-auth sys/"+p] = admitCase{core: c, path: "sys/" + p, wantUnauth: true}
		cases["sealed sys/"+p] = admitCase{core: sealed, path: "sys/" + p, wantErr: logical.ErrSealed}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			unauth, err := tc.core.Admit(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: tc.path, ClientToken: tc.token})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if unauth != tc.wantUnauth {
				t.Fatalf("unauthenticated = %v, want %v", unauth, tc.wantUnauth)
			}
		})
	}
	// Admit consumed no use: the one-use token still serves its one request.
	if _, err := do(c, once.Auth.ClientToken, logical.ReadOperation, "auth/token/lookup-self", nil); err != nil {
		t.Fatalf("the one-use token was used up by Admit: %v", err)
	}
}
