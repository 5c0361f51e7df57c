package token

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRoleWriteRead(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body     map[string]any
		want     map[string]any
		warning  string
		wantErr  error
		errMatch string
	}{
		"defaults": {body: map[string]any{}, want: map[string]any{
			"renewable": true, "orphan": false, "token_type": "default-service", "path_suffix": "",
			"allowed_policies": []string{}, "token_period": int64(0), "token_no_default_policy": false,
		}},
		"lists normalised": {body: map[string]any{"allowed_policies": "Web, db,web", "disallowed_policies_glob": []any{"Admin*"}},
			want: map[string]any{"allowed_policies": []string{"db", "web"}, "disallowed_policies_glob": []string{"admin*"}}},
		"token fields": {body: map[string]any{"token_period": "1h", "token_explicit_max_ttl": 7200, "token_bound_cidrs": "10.1.2.3/8,192.168.0.1", "token_num_uses": 3, "token_no_default_policy": true, "token_type": "service"},
			want: map[string]any{"token_period": int64(3600), "period": int64(0), "token_explicit_max_ttl": int64(7200), "token_bound_cidrs": []string{"10.0.0.0/8", "192.168.0.1/32"}, "token_num_uses": 3, "token_no_default_policy": true, "token_type": "service"}},
		"legacy names": {body: map[string]any{"period": "30m", "explicit_max_ttl": "2h", "bound_cidrs": "127.0.0.1"},
			want: map[string]any{"period": int64(1800), "token_period": int64(1800), "explicit_max_ttl": int64(7200), "token_explicit_max_ttl": int64(7200), "bound_cidrs": []string{"127.0.0.1/32"}, "token_bound_cidrs": []string{"127.0.0.1/32"}}},
		"both names": {body: map[string]any{"period": "30m", "token_period": "1h"}, want: map[string]any{"period": int64(0), "token_period": int64(3600)},
			warning: `Endpoint ignored "period" because "token_period" is set and takes precedence`},
		"explicit max over mount": {body: map[string]any{"token_explicit_max_ttl": "10000h"}, warning: "greater than system/mount allowed value"},
		"path suffix":             {body: map[string]any{"path_suffix": "team/v2.1"}, want: map[string]any{"path_suffix": "team/v2.1"}},
		"batch orphan":            {body: map[string]any{"token_type": "batch", "orphan": true, "renewable": false}, want: map[string]any{"token_type": "batch"}},
		"default-batch":           {body: map[string]any{"token_type": "default-batch"}, want: map[string]any{"token_type": "default-batch"}},
		"bad suffix":              {body: map[string]any{"path_suffix": "../x"}, wantErr: logical.ErrInvalidRequest, errMatch: "path suffix"},
		"short suffix":            {body: map[string]any{"path_suffix": "v1"}, wantErr: logical.ErrInvalidRequest},
		"bad type":                {body: map[string]any{"token_type": "default"}, wantErr: logical.ErrInvalidRequest, errMatch: `invalid 'token_type' value "default"`},
		"batch default uses":      {body: map[string]any{"token_type": "default-batch", "token_num_uses": 2}, wantErr: logical.ErrInvalidRequest, errMatch: "use limit"},
		"negative uses":           {body: map[string]any{"token_num_uses": -1}, wantErr: logical.ErrInvalidRequest},
		"bad cidr":                {body: map[string]any{"token_bound_cidrs": "10.0.0.0/33"}, wantErr: logical.ErrInvalidRequest, errMatch: "token_bound_cidrs"},
		"entity aliases":          {body: map[string]any{"allowed_entity_aliases": "x"}, wantErr: logical.ErrInvalidRequest},
		"batch not orphan":        {body: map[string]any{"token_type": "batch", "renewable": false}, wantErr: logical.ErrInvalidRequest, errMatch: "non-orphan"},
		"batch renewable":         {body: map[string]any{"token_type": "batch", "orphan": true}, wantErr: logical.ErrInvalidRequest, errMatch: "renewable"},
		"batch periodic":          {body: map[string]any{"token_type": "batch", "orphan": true, "renewable": false, "period": "1h"}, wantErr: logical.ErrInvalidRequest, errMatch: "periodic tokens"},
		"batch explicit":          {body: map[string]any{"token_type": "batch", "orphan": true, "renewable": false, "token_explicit_max_ttl": "1h"}, wantErr: logical.ErrInvalidRequest, errMatch: "explicit max"},
		"batch uses":              {body: map[string]any{"token_type": "batch", "orphan": true, "renewable": false, "token_num_uses": 2}, wantErr: logical.ErrInvalidRequest, errMatch: "use limit"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			resp, err := h.call(logical.CreateOperation, "roles/r1", h.root, tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(errMsg(err), tc.errMatch) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errMatch)
				}
				if r, _ := h.s.Role(t.Context(), "r1"); r != nil {
					t.Fatal("a refused role was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.warning != "" && (resp == nil || !slices.ContainsFunc(resp.Warnings, func(w string) bool { return strings.Contains(w, tc.warning) })) {
				t.Fatalf("warnings %v, want %q", resp, tc.warning)
			}
			got, err := h.call(logical.ReadOperation, "roles/r1", h.root, nil)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, got.Data["name"], any("r1"))
			for k, v := range tc.want {
				if !equalAny(got.Data[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got.Data[k], v)
				}
			}
		})
	}
}

// TestRoleUpdateKeepsUnsetFields: an update changes only what it names.
func TestRoleUpdateKeepsUnsetFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.call(logical.CreateOperation, "roles/r", h.root, map[string]any{"allowed_policies": "a", "orphan": true, "renewable": false, "token_period": "1h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.call(logical.UpdateOperation, "roles/r", h.root, map[string]any{"path_suffix": "v002"}); err != nil {
		t.Fatal(err)
	}
	r, err := h.s.Role(t.Context(), "r")
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	if !r.Orphan || r.Renewable || r.Token.Period != time.Hour || !slices.Equal(r.AllowedPolicies, []string{"a"}) || r.PathSuffix != "v002" {
		t.Fatalf("role after update: %+v", r)
	}
	if _, err := h.call(logical.UpdateOperation, "roles/r", h.root, map[string]any{"token_type": "batch"}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("batch with a period accepted: %v", err)
	}
	if r2, _ := h.s.Role(t.Context(), "r"); r2.tokenTypeName() != RoleTypeDefaultService {
		t.Fatal("refused update half-applied")
	}
}

func TestRoleListDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if resp, err := h.call(logical.ListOperation, "roles/", h.root, nil); resp != nil || err != nil {
		t.Fatalf("empty list: %v %v", resp, err)
	}
	for _, n := range []string{"b", "a"} {
		if _, err := h.call(logical.CreateOperation, "roles/"+n, h.root, nil); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := h.call(logical.ListOperation, "roles", h.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, resp.Data["keys"].([]string), []string{"a", "b"})
	if _, err := h.call(logical.DeleteOperation, "roles/a", h.root, nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := h.call(logical.ReadOperation, "roles/a", h.root, nil); resp != nil || err != nil {
		t.Fatalf("deleted role read: %v %v", resp, err)
	}
	found, exists, err := h.b.(logical.ExistenceChecker).ExistenceCheck(t.Context(), &logical.Request{Path: "roles/b", Operation: logical.UpdateOperation})
	if !found || !exists || err != nil {
		t.Fatalf("existence of b: %v %v %v", found, exists, err)
	}
}

// roleCreateCase is one create against a role, by a child token holding
// policies [a b] and no sudo.
type roleCreateCase struct {
	role    map[string]any
	data    map[string]any
	asRoot  bool
	wantErr error
	msg     string
	check   func(t *testing.T, resp *logical.Response, e *Entry)
}

func roleCreateCases() map[string]roleCreateCase {
	policies := func(want ...string) func(*testing.T, *logical.Response, *Entry) {
		return func(t *testing.T, r *logical.Response, _ *Entry) { eq(t, r.Auth.Policies, want) }
	}
	return map[string]roleCreateCase{
		"no lists inherits parent":    {role: map[string]any{}, check: policies("a", "b", "default")},
		"no lists keeps subset rule":  {role: map[string]any{}, data: map[string]any{"policies": "c"}, wantErr: ErrPolicyEscalation},
		"allowed beyond parent":       {role: map[string]any{"allowed_policies": "c,d"}, data: map[string]any{"policies": "c"}, check: policies("c", "default")},
		"allowed is the default set":  {role: map[string]any{"allowed_policies": "c,d"}, check: policies("c", "d", "default")},
		"allowed refuses others":      {role: map[string]any{"allowed_policies": "c"}, data: map[string]any{"policies": "a"}, wantErr: logical.ErrInvalidRequest, msg: "must be subset of the role's allowed policies"},
		"allowed glob":                {role: map[string]any{"allowed_policies_glob": "dev-*"}, data: map[string]any{"policies": "dev-x,dev-y"}, check: policies("default", "dev-x", "dev-y")},
		"allowed glob alone gives no": {role: map[string]any{"allowed_policies_glob": "dev-*"}, check: policies("default")},
		"glob refuses others":         {role: map[string]any{"allowed_policies_glob": "dev-*"}, data: map[string]any{"policies": "prod-x"}, wantErr: logical.ErrInvalidRequest},
		"disallowed":                  {role: map[string]any{"disallowed_policies": "b"}, data: map[string]any{"policies": "b"}, wantErr: logical.ErrInvalidRequest, msg: `token policy "b" is disallowed by this role`},
		"disallowed inherits parent":  {role: map[string]any{"disallowed_policies": "b"}, wantErr: logical.ErrInvalidRequest, msg: `"b" is disallowed`},
		"disallowed only beyond":      {role: map[string]any{"disallowed_policies": "x"}, data: map[string]any{"policies": "z"}, check: policies("default", "z")},
		"disallowed glob":             {role: map[string]any{"allowed_policies": "c,admin-1", "disallowed_policies_glob": "admin*"}, data: map[string]any{"policies": "admin-1"}, wantErr: logical.ErrInvalidRequest},
		"disallowed default":          {role: map[string]any{"allowed_policies": "c", "disallowed_policies": "default"}, check: policies("c")},
		"disallowed default glob":     {role: map[string]any{"allowed_policies": "c", "disallowed_policies_glob": "def*"}, check: policies("c")},
		"no default by request":       {role: map[string]any{"allowed_policies": "c"}, data: map[string]any{"no_default_policy": true}, check: policies("c")},
		"no default by role":          {role: map[string]any{"allowed_policies": "c", "token_no_default_policy": true}, check: policies("c")},
		"no root from non-root":       {role: map[string]any{"allowed_policies": "root"}, data: map[string]any{"policies": "root"}, wantErr: ErrRootFromNonRoot},
		"orphan without sudo": {role: map[string]any{"orphan": true}, data: map[string]any{"policies": "a"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, r.Auth.Orphan, true)
			eq(t, e.ParentHash, "")
		}},
		"no_parent ignored": {role: map[string]any{}, data: map[string]any{"no_parent": true}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.Orphan, false)
		}},
		"period without sudo": {role: map[string]any{"token_period": "1h"}, data: map[string]any{"ttl": "5h"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.Period, time.Hour)
			eq(t, r.Auth.LeaseDuration, time.Hour)
		}},
		"requested period still needs sudo": {role: map[string]any{"token_period": "1h"}, data: map[string]any{"period": "2h"}, wantErr: ErrPeriodDenied},
		"lesser period with warning": {asRoot: true, role: map[string]any{"token_period": "1h"}, data: map[string]any{"period": "2h", "policies": "a"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.Period, time.Hour)
			eq(t, r.Warnings, []string{"Period specified both during creation call and in role; using the lesser value of 3600 seconds"})
		}},
		"lesser explicit max": {role: map[string]any{"token_explicit_max_ttl": "2h"}, data: map[string]any{"explicit_max_ttl": "1h", "ttl": "3h"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.ExplicitMaxTTL, time.Hour)
			eq(t, r.Auth.LeaseDuration, time.Hour)
			eq(t, len(r.Warnings), 1)
		}},
		"role explicit max": {role: map[string]any{"explicit_max_ttl": "2h"}, data: map[string]any{"ttl": "3h"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.ExplicitMaxTTL, 2*time.Hour)
			eq(t, r.Auth.LeaseDuration, 2*time.Hour)
		}},
		"role num uses": {role: map[string]any{"token_num_uses": 3}, data: map[string]any{"num_uses": 5}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.NumUses, 3)
		}},
		"request num uses lower": {role: map[string]any{"token_num_uses": 3}, data: map[string]any{"num_uses": 2}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.NumUses, 2)
		}},
		"not renewable": {role: map[string]any{"renewable": false}, data: map[string]any{"renewable": true}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.Renewable, false)
		}},
		"path and suffix": {role: map[string]any{"path_suffix": "v002"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.Path, "auth/token/create/r/v002")
			eq(t, e.Role, "r")
		}},
		"bound cidrs": {role: map[string]any{"token_bound_cidrs": "10.0.0.0/8"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, e.BoundCIDRs, []string{"10.0.0.0/8"})
		}},
		"batch role": {role: map[string]any{"token_type": "batch", "orphan": true, "renewable": false, "allowed_policies": "c"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, r.Auth.TokenType, "batch")
			eq(t, r.Auth.Orphan, true)
			eq(t, e.Role, "r")
			eq(t, e.Path, "auth/token/create/r")
		}},
		"batch role beats request": {role: map[string]any{"token_type": "batch", "orphan": true, "renewable": false}, data: map[string]any{"type": "service"}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.TokenType, "batch")
		}},
		"default-batch": {role: map[string]any{"token_type": "default-batch", "orphan": true}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.TokenType, "batch")
		}},
		"default-batch lets service": {role: map[string]any{"token_type": "default-batch", "token_explicit_max_ttl": "1h"}, data: map[string]any{"type": "service"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, r.Auth.TokenType, "service")
			eq(t, e.ExplicitMaxTTL, time.Hour)
		}},
		"default-batch explicit max caps ttl": {role: map[string]any{"token_type": "default-batch", "token_explicit_max_ttl": "1h"}, data: map[string]any{"ttl": "10h"}, check: func(t *testing.T, r *logical.Response, e *Entry) {
			eq(t, r.Auth.TokenType, "batch")
			eq(t, e.ExplicitMaxTTL, time.Duration(0))
			eq(t, r.Auth.LeaseDuration, time.Hour)
		}},
		"default-batch keeps shorter ttl": {role: map[string]any{"token_type": "default-batch", "token_explicit_max_ttl": "1h"}, data: map[string]any{"ttl": "10m"}, check: func(t *testing.T, r *logical.Response, _ *Entry) {
			eq(t, r.Auth.LeaseDuration, 10*time.Minute)
		}},
		"batch request num uses": {role: map[string]any{}, data: map[string]any{"type": "batch", "num_uses": 1}, wantErr: logical.ErrInvalidRequest},
	}
}

func TestCreateWithRole(t *testing.T) {
	t.Parallel()
	for name, tc := range roleCreateCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if _, err := h.call(logical.CreateOperation, "roles/r", h.root, tc.role); err != nil {
				t.Fatalf("role: %v", err)
			}
			caller := h.root
			if !tc.asRoot {
				caller = h.create(t, h.root, map[string]any{"policies": "a,b"}).ClientToken
			}
			resp, err := h.call(logical.UpdateOperation, "create/r", caller, tc.data)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(errMsg(err), tc.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := h.s.Lookup(t.Context(), resp.Auth.ClientToken)
			if err != nil || e == nil {
				t.Fatalf("lookup of new token: %v, %v", e, err)
			}
			tc.check(t, resp, e)
		})
	}
}

func TestCreateWithUnknownRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := h.call(logical.UpdateOperation, "create/nope", h.root, nil)
	if !errors.Is(err, logical.ErrInvalidRequest) || errMsg(err) != "unknown role nope" {
		t.Fatalf("err = %v", err)
	}
}

// TestRoleTokenRenewal: a role's token renews by the role as it is now, and
// not at all once the role is gone.
func TestRoleTokenRenewal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.call(logical.CreateOperation, "roles/r", h.root, map[string]any{"token_period": "1h"}); err != nil {
		t.Fatal(err)
	}
	a := h.create(t, h.root, map[string]any{"policies": "a"})
	resp, err := h.call(logical.UpdateOperation, "create/r", h.root, map[string]any{"policies": "a"})
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.Auth.ClientToken
	if _, err := h.call(logical.UpdateOperation, "roles/r", h.root, map[string]any{"token_period": "2h"}); err != nil {
		t.Fatal(err)
	}
	resp, err = h.call(logical.UpdateOperation, "renew-self", tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, resp.Auth.LeaseDuration, 2*time.Hour)
	if _, err := h.call(logical.DeleteOperation, "roles/r", h.root, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.call(logical.UpdateOperation, "renew-self", tok, nil); !errors.Is(err, ErrRoleGone) {
		t.Fatalf("renewal after the role was deleted: %v", err)
	}
	if _, err := h.call(logical.UpdateOperation, "renew-self", a.ClientToken, nil); err != nil {
		t.Fatalf("a token without a role: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		pattern, s string
		want       bool
	}{
		"exact":          {"dev", "dev", true},
		"exact miss":     {"dev", "devs", false},
		"prefix":         {"dev-*", "dev-a", true},
		"prefix empty":   {"dev-*", "dev-", true},
		"prefix miss":    {"dev-*", "prod-a", false},
		"suffix":         {"*-ro", "db-ro", true},
		"middle":         {"a*b*c", "axxbyyc", true},
		"middle order":   {"a*b*c", "acb", false},
		"overlap":        {"ab*ba", "aba", false},
		"star":           {"*", "", true},
		"double star":    {"a**", "abc", true},
		"suffix overlap": {"*aa", "a", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := globMatch(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
			}
		})
	}
}
