package approle

import (
	"errors"
	"reflect"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRoleReadShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.CreateOperation, "role/web", map[string]any{
		"policies": "b,a", "secret_id_ttl": "10m", "secret_id_num_uses": 3, "token_ttl": 60, "bound_cidr_list": "10.1.2.3/8",
	})
	r := h.mustDo(t, logical.ReadOperation, "role/web", nil)
	want := map[string]any{
		"bind_secret_id": true, "secret_id_bound_cidrs": []string{"10.0.0.0/8"}, "secret_id_num_uses": 3,
		"secret_id_ttl": int64(600), "local_secret_ids": false,
		"token_policies": []string{"a", "b"}, "policies": []string{"a", "b"}, "token_ttl": int64(60), "token_max_ttl": int64(0),
		"token_explicit_max_ttl": int64(0), "token_period": int64(0), "token_num_uses": 0, "token_bound_cidrs": []string{},
		"token_no_default_policy": false, "token_type": "default",
	}
	if !reflect.DeepEqual(r.Data, want) {
		t.Fatalf("read = %#v\nwant   %#v", r.Data, want)
	}
	if r.Data["role_id"] != nil {
		t.Fatal("role read shows the role ID")
	}
	if l := h.mustDo(t, logical.ListOperation, "role/", nil); !reflect.DeepEqual(l.Data["keys"], []string{"web"}) {
		t.Fatalf("list = %v", l.Data)
	}
}

func TestRoleWriteErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role(t, "taken", map[string]any{"role_id": "shared-id"})
	cases := map[string]struct {
		path string
		data map[string]any
		want error
	}{
		"no constraint":        {"role/x", map[string]any{"bind_secret_id": false}, ErrNoConstraint},
		"negative uses":        {"role/x", map[string]any{"secret_id_num_uses": -1}, logical.ErrInvalidRequest},
		"bad cidr":             {"role/x", map[string]any{"secret_id_bound_cidrs": "10.0.0.0/99"}, logical.ErrInvalidRequest},
		"period over max":      {"role/x", map[string]any{"token_period": "48h"}, logical.ErrInvalidRequest},
		"root policy":          {"role/x", map[string]any{"token_policies": "root"}, logical.ErrInvalidRequest},
		"role id in use":       {"role/x", map[string]any{"role_id": "shared-id"}, ErrRoleIDInUse},
		"upper-case name":      {"role/Web", nil, logical.ErrInvalidRequest},
		"bad ttl":              {"role/x", map[string]any{"secret_id_ttl": "soon"}, logical.ErrInvalidRequest},
		"local after creation": {"role/taken", map[string]any{"local_secret_ids": true}, logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := h.do(logical.CreateOperation, tc.path, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if r, _ := h.do(logical.ReadOperation, "role/x", nil); r != nil {
		t.Fatal("a refused write left a role behind")
	}
}

func TestRoleWarnings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.mustDo(t, logical.CreateOperation, "role/x", map[string]any{"token_type": "default-batch", "token_max_ttl": "100h"})
	if r == nil || len(r.Warnings) != 2 {
		t.Fatalf("warnings = %v", r)
	}
	if got := h.mustDo(t, logical.ReadOperation, "role/x", nil).Data["token_type"]; got != "batch" {
		t.Fatalf("token_type = %v", got)
	}
}

// TestRoleFieldRoutes drives Vault's per-field routes: read, update and
// reset each setting alone.
func TestRoleFieldRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role(t, "web", nil)
	cases := map[string]struct {
		seg, key string
		value    any
		want     any
		reset    any
	}{
		"policies":              {"policies", "token_policies", "a,b", []string{"a", "b"}, []string{}},
		"secret-id-num-uses":    {"secret-id-num-uses", "secret_id_num_uses", 4, 4, 0},
		"secret-id-ttl":         {"secret-id-ttl", "secret_id_ttl", "1m", int64(60), int64(0)},
		"token-ttl":             {"token-ttl", "token_ttl", "2m", int64(120), int64(0)},
		"token-max-ttl":         {"token-max-ttl", "token_max_ttl", "3m", int64(180), int64(0)},
		"token-num-uses":        {"token-num-uses", "token_num_uses", 2, 2, 0},
		"period":                {"period", "token_period", "5m", int64(300), int64(0)},
		"secret-id-bound-cidrs": {"secret-id-bound-cidrs", "secret_id_bound_cidrs", "10.0.0.0/8", []string{"10.0.0.0/8"}, []string{}},
		"bound-cidr-list":       {"bound-cidr-list", "bound_cidr_list", "10.0.0.0/8", []string{"10.0.0.0/8"}, []string{}},
		"token-bound-cidrs":     {"token-bound-cidrs", "token_bound_cidrs", "10.0.0.1", []string{"10.0.0.1/32"}, []string{}},
		"bind-secret-id":        {"bind-secret-id", "bind_secret_id", true, true, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := "role/web/" + tc.seg
			h.mustDo(t, logical.UpdateOperation, path, map[string]any{tc.key: tc.value})
			if got := h.mustDo(t, logical.ReadOperation, path, nil).Data[tc.key]; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("after update %s = %#v, want %#v", tc.key, got, tc.want)
			}
			h.mustDo(t, logical.DeleteOperation, path, nil)
			if got := h.mustDo(t, logical.ReadOperation, path, nil).Data[tc.key]; !reflect.DeepEqual(got, tc.reset) {
				t.Fatalf("after reset %s = %#v, want %#v", tc.key, got, tc.reset)
			}
		})
	}
	if _, err := h.do(logical.UpdateOperation, "role/web/token-ttl", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("update without the field: %v", err)
	}
	if _, err := h.do(logical.UpdateOperation, "role/nope/token-ttl", map[string]any{"token_ttl": 5}); !errors.Is(err, logical.ErrNotFound) {
		t.Fatalf("update of a missing role: %v", err)
	}
	if r := h.mustDo(t, logical.ReadOperation, "role/web/local-secret-ids", nil); r.Data["local_secret_ids"] != false {
		t.Fatalf("local-secret-ids = %v", r.Data)
	}
	// Turning off the only constraint is refused.
	if _, err := h.do(logical.UpdateOperation, "role/web/bind-secret-id", map[string]any{"bind_secret_id": false}); !errors.Is(err, ErrNoConstraint) {
		t.Fatalf("unbinding the only constraint: %v", err)
	}
}

func TestRoleID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.role(t, "web", nil)
	h.role(t, "db", map[string]any{"role_id": "db-id"})
	secretID, _ := h.secretID(t, "web", nil)
	h.mustDo(t, logical.UpdateOperation, "role/web/role-id", map[string]any{"role_id": "web-id"})
	if got := h.mustDo(t, logical.ReadOperation, "role/web/role-id", nil).Data["role_id"]; got != "web-id" {
		t.Fatalf("role_id = %v", got)
	}
	if _, err := h.login(first, secretID, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login with the old role ID: %v", err)
	}
	if _, err := h.login("web-id", secretID, "127.0.0.1:1"); err != nil {
		t.Fatalf("login with the new role ID: %v", err)
	}
	if _, err := h.do(logical.UpdateOperation, "role/web/role-id", map[string]any{"role_id": "db-id"}); !errors.Is(err, ErrRoleIDInUse) {
		t.Fatalf("taking another role's ID: %v", err)
	}
	if _, err := h.do(logical.UpdateOperation, "role/web/role-id", map[string]any{}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("empty role_id: %v", err)
	}
}

// TestRoleDeleteTakesSecretIDs checks that deleting a role deletes its
// secret IDs, so a role recreated under the same name does not inherit them.
func TestRoleDeleteTakesSecretIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role(t, "web", map[string]any{"role_id": "fixed"})
	secretID, _ := h.secretID(t, "web", nil)
	h.mustDo(t, logical.DeleteOperation, "role/web", nil)
	h.role(t, "web", map[string]any{"role_id": "fixed"})
	if _, err := h.login("fixed", secretID, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("secret ID survived its role: %v", err)
	}
	if r, _ := h.do(logical.ListOperation, "role/web/secret-id/", nil); r != nil {
		t.Fatalf("accessors survived: %v", r.Data)
	}
	if _, err := h.do(logical.DeleteOperation, "role/none", nil); err != nil {
		t.Fatalf("deleting a missing role: %v", err)
	}
}
