package userpass

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestWriteUser(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 73)
	cases := map[string]struct {
		path    string
		body    map[string]any
		wantErr error
		want    map[string]any // fields expected in the read afterwards
	}{
		"comma policies":    {body: map[string]any{"password": "pw", "policies": "b, A,a,"}, want: map[string]any{"token_policies": []string{"a", "b"}}},
		"list policies":     {body: map[string]any{"password": "pw", "token_policies": []any{"y", "x"}}, want: map[string]any{"token_policies": []string{"x", "y"}}},
		"token settings":    {body: map[string]any{"password": "pw", "token_ttl": "1h", "token_max_ttl": 7200, "token_period": "30m", "token_num_uses": "3"}, want: map[string]any{"token_ttl": int64(3600), "token_max_ttl": int64(7200), "token_period": int64(1800), "token_num_uses": 3}},
		"bound cidrs":       {body: map[string]any{"password": "pw", "token_bound_cidrs": "10.1.2.3/8, 192.168.1.5"}, want: map[string]any{"token_bound_cidrs": []string{"10.0.0.0/8", "192.168.1.5/32"}}},
		"default is false":  {body: map[string]any{"password": "pw", "token_no_default_policy": false}, want: map[string]any{"token_no_default_policy": false}},
		"email name":        {path: "users/a.b@example.com", body: map[string]any{"password": "pw"}, want: map[string]any{"token_policies": []string{}}},
		"missing password":  {body: map[string]any{"policies": "a"}, wantErr: logical.ErrInvalidRequest},
		"empty password":    {body: map[string]any{"password": ""}, wantErr: logical.ErrInvalidRequest},
		"password too long": {body: map[string]any{"password": long}, wantErr: logical.ErrInvalidRequest},
		"ttl over max":      {body: map[string]any{"password": "pw", "token_ttl": "2h", "token_max_ttl": "1h"}, wantErr: logical.ErrInvalidRequest},
		"bad ttl":           {body: map[string]any{"password": "pw", "token_ttl": "soon"}, wantErr: logical.ErrInvalidRequest},
		"negative uses":     {body: map[string]any{"password": "pw", "token_num_uses": -1}, wantErr: logical.ErrInvalidRequest},
		"new name wins":     {body: map[string]any{"password": "pw", "policies": "a", "token_policies": "b"}, want: map[string]any{"token_policies": []string{"b"}, "policies": nil}},
		"legacy names":      {body: map[string]any{"password": "pw", "policies": "a", "ttl": "10s", "max_ttl": 60, "period": "1m", "num_uses": 2, "bound_cidrs": "10.0.0.1"}, want: map[string]any{"token_policies": []string{"a"}, "policies": []string{"a"}, "token_ttl": int64(10), "ttl": int64(10), "max_ttl": int64(60), "token_period": int64(60), "period": int64(60), "token_num_uses": 2, "num_uses": 2, "token_bound_cidrs": []string{"10.0.0.1/32"}, "bound_cidrs": []string{"10.0.0.1/32"}}},
		"no default policy": {body: map[string]any{"password": "pw", "token_no_default_policy": true}, want: map[string]any{"token_no_default_policy": true}},
		"token type":        {body: map[string]any{"password": "pw", "token_type": "service"}, want: map[string]any{"token_type": "service"}},
		"bad token type":    {body: map[string]any{"password": "pw", "token_type": "cheap"}, wantErr: logical.ErrInvalidRequest},
		"batch":             {body: map[string]any{"password": "pw", "token_type": "batch"}, want: map[string]any{"token_type": "batch"}},
		"periodic batch":    {body: map[string]any{"password": "pw", "token_type": "batch", "token_period": "1h"}, wantErr: logical.ErrInvalidRequest},
		"root policy":       {body: map[string]any{"password": "pw", "policies": "Root"}, wantErr: logical.ErrInvalidRequest},
		"bad cidr":          {body: map[string]any{"password": "pw", "token_bound_cidrs": []any{"10.0.0.0/33"}}, wantErr: logical.ErrInvalidRequest},
		"policies object":   {body: map[string]any{"password": "pw", "policies": map[string]any{"a": 1}}, wantErr: logical.ErrInvalidRequest},
		"bad name":          {path: "users/-x-", body: map[string]any{"password": "pw"}, wantErr: logical.ErrUnsupportedPath},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			path := tc.path
			if path == "" {
				path = "users/alice"
			}
			_, err := h.do(logical.CreateOperation, path, tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if r, _ := h.do(logical.ReadOperation, path, nil); r != nil {
					t.Fatalf("a refused write left a user behind: %v", r.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := h.mustDo(t, logical.ReadOperation, path, nil).Data
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

// TestUserLifecycle walks one user through create, read, partial update,
// the password and policies routes, list and delete.
func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if found, exists, err := h.fw.ExistenceCheck(ctx, &logical.Request{Path: "users/alice"}); err != nil || !found || exists {
		t.Fatalf("before create: found=%v exists=%v err=%v", found, exists, err)
	}
	h.mustDo(t, logical.CreateOperation, "users/alice", map[string]any{"password": "s3cret-pw", "policies": "dev", "token_ttl": "1h"})
	if _, exists, _ := h.fw.ExistenceCheck(ctx, &logical.Request{Path: "users/alice"}); !exists {
		t.Fatal("existence check is case-sensitive")
	}
	raw, _ := h.storage.Get(ctx, "user/alice")
	if raw == nil || !bytes.Contains(raw.Value, []byte(`$2a$10$`)) || bytes.Contains(raw.Value, []byte("s3cret-pw")) {
		t.Fatalf("stored entry is not a cost-10 bcrypt hash without the password: %s", raw.Value)
	}
	read := h.mustDo(t, logical.ReadOperation, "users/alice", nil)
	if dump := fmt.Sprint(read.Data); strings.Contains(dump, "$2a$") || strings.Contains(dump, "s3cret") || strings.Contains(dump, "password") {
		t.Fatalf("read reveals the password or its hash: %s", dump)
	}
	// A partial update keeps everything it does not name.
	h.mustDo(t, logical.UpdateOperation, "users/alice", map[string]any{"token_num_uses": 5})
	read = h.mustDo(t, logical.ReadOperation, "users/alice", nil)
	if read.Data["token_ttl"] != int64(3600) || read.Data["token_num_uses"] != 5 || !reflect.DeepEqual(read.Data["token_policies"], []string{"dev"}) {
		t.Fatalf("partial update lost fields: %v", read.Data)
	}
	if _, err := h.do(logical.UpdateOperation, "users/alice/password", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("password route without a password: %v", err)
	}
	h.mustDo(t, logical.UpdateOperation, "users/alice/password", map[string]any{"password": "new-pw"})
	if _, err := h.do(logical.UpdateOperation, "login/alice", map[string]any{"password": "s3cret-pw"}); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("old password still works: %v", err)
	}
	h.mustDo(t, logical.UpdateOperation, "login/alice", map[string]any{"password": "new-pw"})
	h.mustDo(t, logical.UpdateOperation, "users/alice/policies", map[string]any{"token_policies": []any{"ops", "dev"}})
	read = h.mustDo(t, logical.ReadOperation, "users/alice", nil)
	if !reflect.DeepEqual(read.Data["token_policies"], []string{"dev", "ops"}) || read.Data["policies"] != nil || read.Data["token_num_uses"] != 5 {
		t.Fatalf("policies route: %v", read.Data)
	}
	h.mustDo(t, logical.CreateOperation, "users/bob", map[string]any{"password": "pw"})
	list := h.mustDo(t, logical.ListOperation, "users/", nil)
	if !reflect.DeepEqual(list.Data["keys"], []string{"alice", "bob"}) {
		t.Fatalf("list: %v", list.Data)
	}
	h.mustDo(t, logical.DeleteOperation, "users/alice", nil)
	h.mustDo(t, logical.DeleteOperation, "users/bob", nil)
	if r := h.mustDo(t, logical.ReadOperation, "users/alice", nil); r != nil {
		t.Fatalf("deleted user still readable: %v", r.Data)
	}
	if r := h.mustDo(t, logical.ListOperation, "users", nil); r != nil {
		t.Fatalf("empty list should be nil (404): %v", r.Data)
	}
}

func TestUpdateMissingUser(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		path string
		body map[string]any
	}{
		"password": {path: "users/ghost/password", body: map[string]any{"password": "pw"}},
		"policies": {path: "users/ghost/policies", body: map[string]any{"policies": "a"}},
		"no field": {path: "users/ghost/policies", body: map[string]any{}},
	}
	h := newHarness(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := h.do(logical.UpdateOperation, tc.path, tc.body); !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err = %v, want a 400", err)
			}
			if r, _ := h.do(logical.ReadOperation, "users/ghost", nil); r != nil {
				t.Fatal("an update created the user")
			}
		})
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	if _, err := Factory(context.Background(), &logical.BackendConfig{}); !errors.Is(err, ErrNoStorage) {
		t.Fatalf("no storage: %v", err)
	}
	b, err := Factory(context.Background(), &logical.BackendConfig{Storage: logical.NewInmemStorage()})
	if err != nil {
		t.Fatal(err)
	}
	sp := b.(logical.PathInfo).SpecialPaths()
	if sp == nil || !reflect.DeepEqual(sp.Unauthenticated, []string{"login/*"}) {
		t.Fatalf("special paths: %+v", sp)
	}
}

// TestUserPathsRefuseRespelling: a user path in another case would be
// authorised as a different path and then reach the same user.
func TestUserPathsRefuseRespelling(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.CreateOperation, "users/alice", map[string]any{"password": "s3cret-pw"})
	for _, p := range []string{"users/ALICE", "users/Alice/password", "users/aLiCe/policies"} {
		_, err := h.fw.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: p, Storage: h.storage,
			Data: map[string]any{"password": "pwned", "token_policies": "root-ish"}})
		if !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%s: err = %v", p, err)
		}
	}
}
