package jwt

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// writeRole writes a jwt role with user_claim sub, after fields.
func writeRole(t testing.TB, h *harness, name string, fields map[string]any) {
	t.Helper()
	body := map[string]any{"role_type": "jwt", "user_claim": "sub"}
	for k, v := range fields {
		body[k] = v
	}
	h.mustDo(t, logical.CreateOperation, "role/"+name, body)
}

func TestRoleWrite(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := map[string]struct {
		path    string
		body    map[string]any
		wantErr string
		want    map[string]any
	}{
		"minimal": {body: base(nil), want: map[string]any{
			"role_type": "jwt", "bound_audiences": []string{"coffer"}, "user_claim": "sub", "bound_claims_type": "string",
			"clock_skew_leeway": int64(0), "token_policies": []string{}, "token_type": "default"}},
		"everything": {body: base(map[string]any{
			"bound_subject": "system:serviceaccount:ns:app", "bound_claims_type": "glob",
			"bound_claims":   map[string]any{"/kubernetes.io/namespace": []any{"team-*", "ops"}},
			"claim_mappings": map[string]any{"/kubernetes.io/namespace": "namespace", "email": "email"},
			"groups_claim":   "groups", "clock_skew_leeway": "-1", "expiration_leeway": 30, "not_before_leeway": "2m",
			"token_policies": "b,a", "token_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"}),
			want: map[string]any{"bound_subject": "system:serviceaccount:ns:app", "bound_claims_type": "glob",
				"bound_claims":   map[string]any{"/kubernetes.io/namespace": []any{"team-*", "ops"}},
				"claim_mappings": map[string]string{"/kubernetes.io/namespace": "namespace", "email": "email"},
				"groups_claim":   "groups", "clock_skew_leeway": int64(-1), "expiration_leeway": int64(30), "not_before_leeway": int64(120),
				"token_policies": []string{"a", "b"}, "token_ttl": int64(3600), "token_bound_cidrs": []string{"10.0.0.0/8"}}},
		"legacy names": {body: base(map[string]any{"policies": "p", "ttl": "10m", "bound_cidrs": "10.1.1.1"}),
			want: map[string]any{"policies": []string{"p"}, "token_policies": []string{"p"}, "ttl": int64(600), "bound_cidrs": []string{"10.1.1.1/32"}}},
		"cidrs are a bound constraint": {body: map[string]any{"role_type": "jwt", "user_claim": "sub", "token_bound_cidrs": "10.0.0.0/8"}},
		"number bound claim":           {body: base(map[string]any{"bound_claims": map[string]any{"n": json.Number("7"), "b": true}})},
		"role type missing":            {body: map[string]any{"user_claim": "sub", "bound_audiences": "a"}, wantErr: `role_type "oidc" (the default when role_type is not set) is not supported`},
		"role type oidc":               {body: base(map[string]any{"role_type": "oidc"}), wantErr: "not supported"},
		"role type junk":               {body: base(map[string]any{"role_type": "saml"}), wantErr: "invalid 'role_type': saml"},
		"no user claim":                {body: map[string]any{"role_type": "jwt", "bound_audiences": "a"}, wantErr: "a user claim must be defined on the role"},
		"no bound constraint":          {body: map[string]any{"role_type": "jwt", "user_claim": "sub"}, wantErr: "must have at least one bound constraint"},
		"bad bound claims type":        {body: base(map[string]any{"bound_claims_type": "regex"}), wantErr: "invalid 'bound_claims_type': regex"},
		"glob of a number":             {body: base(map[string]any{"bound_claims_type": "glob", "bound_claims": map[string]any{"n": json.Number("1")}}), wantErr: "glob bound claims must be strings"},
		"bound claim object":           {body: base(map[string]any{"bound_claims": map[string]any{"x": map[string]any{"a": "b"}}}), wantErr: `bound_claims["x"] must be`},
		"bound claim empty list":       {body: base(map[string]any{"bound_claims": map[string]any{"x": []any{}}}), wantErr: `non-empty list`},
		"bound claim bad pointer":      {body: base(map[string]any{"bound_claims": map[string]any{"/a~2": "x"}}), wantErr: "not a valid JSON pointer"},
		"mapping to role":              {body: base(map[string]any{"claim_mappings": map[string]any{"sub": "role"}}), wantErr: `metadata key "role" is reserved`},
		"two mappings one key":         {body: base(map[string]any{"claim_mappings": map[string]any{"a": "x", "b": "x"}}), wantErr: `multiple keys are mapped to metadata key "x"`},
		"user claim pointer not one":   {body: base(map[string]any{"user_claim_json_pointer": true}), wantErr: "is not a JSON pointer"},
		"ttl over max":                 {body: base(map[string]any{"token_ttl": "2h", "token_max_ttl": "1h"}), wantErr: "token_ttl must not exceed token_max_ttl"},
		"period over mount max":        {body: base(map[string]any{"token_period": "48h"}), wantErr: "greater than the backend's maximum lease TTL"},
		"negative ttl":                 {body: base(map[string]any{"token_ttl": "-1"}), wantErr: "must not be negative"},
		"root policy":                  {body: base(map[string]any{"token_policies": "root"}), wantErr: "root"},
		"upper-case name":              {path: "role/Dev", body: base(nil), wantErr: `use "dev"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			path := tc.path
			if path == "" {
				path = "role/dev"
			}
			_, err := h.do(logical.CreateOperation, path, tc.body)
			if tc.wantErr != "" {
				wantUserError(t, err, logical.ErrInvalidRequest, tc.wantErr, "")
				if r, _ := h.do(logical.ReadOperation, "role/dev", nil); r != nil {
					t.Fatal("a refused role was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := h.mustDo(t, logical.ReadOperation, "role/dev", nil)
			for k, v := range tc.want {
				if !reflect.DeepEqual(r.Data[k], v) {
					t.Fatalf("%s = %#v, want %#v", k, r.Data[k], v)
				}
			}
		})
	}
}

func TestRoleUpdateKeepsUnsetFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	writeRole(t, h, "dev", map[string]any{"bound_audiences": "a", "token_policies": "p", "groups_claim": "g"})
	h.mustDo(t, logical.UpdateOperation, "role/dev", map[string]any{"bound_subject": "s"})
	r := h.mustDo(t, logical.ReadOperation, "role/dev", nil)
	if r.Data["role_type"] != "jwt" || r.Data["groups_claim"] != "g" || r.Data["bound_subject"] != "s" ||
		!reflect.DeepEqual(r.Data["token_policies"], []string{"p"}) {
		t.Fatalf("after update: %v", r.Data)
	}
	// An update that breaks the role changes nothing.
	if _, err := h.do(logical.UpdateOperation, "role/dev", map[string]any{"user_claim": ""}); err == nil {
		t.Fatal("emptied user_claim accepted")
	}
	if r := h.mustDo(t, logical.ReadOperation, "role/dev", nil); r.Data["user_claim"] != "sub" {
		t.Fatalf("refused update was stored: %v", r.Data["user_claim"])
	}
}

func TestRoleListDeleteAndWarning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if r, err := h.do(logical.ListOperation, "role/", nil); r != nil || err != nil {
		t.Fatalf("empty list: %v %v", r, err)
	}
	writeRole(t, h, "b", map[string]any{"bound_audiences": "x"})
	resp := h.mustDo(t, logical.CreateOperation, "role/a", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "x", "token_max_ttl": "48h"})
	if resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("no warning for a max ttl over the mount's: %+v", resp)
	}
	r := h.mustDo(t, logical.ListOperation, "role", nil)
	if !reflect.DeepEqual(r.Data["keys"], []string{"a", "b"}) {
		t.Fatalf("keys = %v", r.Data["keys"])
	}
	h.mustDo(t, logical.DeleteOperation, "role/a", nil)
	if r, _ := h.do(logical.ReadOperation, "role/a", nil); r != nil {
		t.Fatal("deleted role still reads")
	}
	found, exists, err := h.fw.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: "role/b", Storage: h.storage})
	if !found || !exists || err != nil {
		t.Fatalf("existence check: %v %v %v", found, exists, err)
	}
}
