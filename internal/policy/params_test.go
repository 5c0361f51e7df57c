package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Normalizers like a schema's: a lower-cased list element and a duration.
func lowerElem(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("not a string")
	}
	return strings.ToLower(strings.TrimSpace(s)), nil
}

func seconds(v any) (any, error) {
	switch n := v.(type) {
	case int64:
		return time.Duration(n) * time.Second, nil
	case string:
		return time.ParseDuration(n)
	}
	return nil, errors.New("not a duration")
}

func policies(values ...any) logical.Param {
	return logical.Param{Names: []string{"token_policies", "policies"}, Values: values, Normalize: lowerElem}
}

func ttl(d time.Duration) logical.Param {
	return logical.Param{Names: []string{"token_ttl", "ttl"}, Values: []any{d}, Normalize: seconds}
}

// TestAllowedParams checks the rules against parameters as a schema parsed
// them: every element, every name of a field, policy values converted.
func TestAllowedParams(t *testing.T) {
	t.Parallel()
	acl := mustACL(t, `
path "deny" {
  capabilities = ["update"]
  denied_parameters = { "token_policies" = ["ADMIN*"] }
}
path "deny-legacy" {
  capabilities = ["update"]
  denied_parameters = { "policies" = ["admin"] }
}
path "allow" {
  capabilities = ["update"]
  allowed_parameters = {
    "token_policies" = ["dev-*"]
    "ttl" = [60, "2m"]
  }
}
path "require" {
  capabilities = ["update"]
  required_parameters = ["policies"]
}
path "star" {
  capabilities = ["update"]
  allowed_parameters = { "token_ttl" = ["*"] }
}
`)
	cases := map[string]struct {
		path string
		ps   []logical.Param
		want bool
	}{
		"denied element":          {"deny", []logical.Param{policies("dev", "admin-x")}, false},
		"denied, policy upper":    {"deny", []logical.Param{policies("admin")}, false},
		"none denied":             {"deny", []logical.Param{policies("dev", "ops")}, true},
		"no elements":             {"deny", []logical.Param{policies()}, true},
		"rule on the older name":  {"deny-legacy", []logical.Param{policies("admin")}, false},
		"every element allowed":   {"allow", []logical.Param{policies("dev-a", "dev-b")}, true},
		"one element not allowed": {"allow", []logical.Param{policies("dev-a", "admin")}, false},
		"duration as number":      {"allow", []logical.Param{ttl(time.Minute)}, true},
		"duration as string":      {"allow", []logical.Param{ttl(2 * time.Minute)}, true},
		"other duration":          {"allow", []logical.Param{ttl(61 * time.Second)}, false},
		"unlisted raw parameter":  {"allow", []logical.Param{logical.RawParam("x", "y")}, false},
		"required by older name":  {"require", []logical.Param{policies("a")}, true},
		"required missing":        {"require", []logical.Param{ttl(time.Second)}, false},
		"star on a duration":      {"star", []logical.Param{ttl(time.Hour)}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			res, err := acl.AllowedParams(logical.UpdateOperation, tc.path, func() ([]logical.Param, error) {
				calls++
				return tc.ps, nil
			})
			if err != nil || res.Allowed != tc.want || calls != 1 {
				t.Fatalf("allowed = %v (err %v, %d calls), want %v", res.Allowed, err, calls, tc.want)
			}
		})
	}
}

// TestAllowedParamsAsksOnlyWhenNeeded: without parameter rules, or for an
// operation Vault does not check, the parameters are never parsed; a parse
// error is returned and allows nothing.
func TestAllowedParamsAsksOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	acl := mustACL(t, rule("free", "update", "list"), `
path "ruled" {
  capabilities = ["update", "list"]
  denied_parameters = { "x" = [] }
}`)
	boom := errors.New("bad body")
	fail := func() ([]logical.Param, error) { return nil, boom }
	if res, err := acl.AllowedParams(logical.UpdateOperation, "free", fail); err != nil || !res.Allowed {
		t.Fatalf("a rule without parameter rules parsed the body: %v %v", res, err)
	}
	if res, err := acl.AllowedParams(logical.ListOperation, "ruled", fail); err != nil || !res.Allowed {
		t.Fatalf("LIST parsed the body: %v %v", res, err)
	}
	if res, err := acl.AllowedParams(logical.UpdateOperation, "ruled", fail); !errors.Is(err, boom) || res.Allowed {
		t.Fatalf("parse error: %v %v", res, err)
	}
	if res, _ := acl.AllowedParams(logical.UpdateOperation, "ruled", nil); !res.Allowed {
		t.Fatal("no parameters at all must pass a denied_parameters rule")
	}
}

func TestValueEqual(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		policy, value any
		want          bool
	}{
		"int and json int":        {int64(0), json.Number("0"), true},
		"int and json float":      {int64(60), json.Number("60.0"), true},
		"float and json":          {1.5, json.Number("1.5"), true},
		"int and other":           {int64(1), json.Number("2"), false},
		"big ints exact":          {int64(9007199254740993), json.Number("9007199254740992"), false},
		"int and typed int":       {int64(7), 7, true},
		"number is not a string":  {int64(60), "60", false},
		"string glob":             {"dev-*", "dev-a", true},
		"star matches a number":   {"*", json.Number("5"), true},
		"bool":                    {true, true, true},
		"bool is not a string":    {true, "true", false},
		"nil only nil":            {nil, "", false},
		"duration":                {time.Minute, time.Minute, true},
		"duration is not seconds": {time.Minute, int64(60), false},
		"unparsable json number":  {int64(1), json.Number("1e999"), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := valueEqual(tc.policy, tc.value); got != tc.want {
				t.Fatalf("valueEqual(%#v, %#v) = %v", tc.policy, tc.value, got)
			}
		})
	}
}
