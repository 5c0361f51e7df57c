package kubernetes

import (
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRoleCRUD(t *testing.T) {
	h := newHarness(t)
	if r := h.mustDo(t, logical.ListOperation, "role/", nil); r != nil {
		t.Fatalf("list with no roles = %v, want 404", r.Data)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{
		"bound_service_account_names": "app,web-*", "bound_service_account_namespaces": []any{"team-*"},
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
		"audience": "coffer", "alias_name_source": "serviceaccount_name",
		"policies": "reader", "ttl": "1h", "token_max_ttl": 7200, "token_bound_cidrs": "10.0.0.0/8",
		"token_num_uses": 3, "token_period": 0, "token_type": "service",
	})
	d := h.mustDo(t, logical.ReadOperation, "role/app", nil).Data
	checks := map[string]any{
		"audience": "coffer", "alias_name_source": "serviceaccount_name", "token_ttl": int64(3600), "ttl": int64(3600),
		"token_max_ttl": int64(7200), "token_num_uses": 3, "token_type": "service",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`,
	}
	for k, v := range checks {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	for k, want := range map[string][]string{
		"bound_service_account_names": {"app", "web-*"}, "bound_service_account_namespaces": {"team-*"},
		"token_policies": {"reader"}, "policies": {"reader"}, "token_bound_cidrs": {"10.0.0.0/8"},
	} {
		if got, _ := d[k].([]string); !slices.Equal(got, want) {
			t.Errorf("%s = %#v, want %v", k, d[k], want)
		}
	}
	// An update changes only what it names.
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"audience": "other"})
	d = h.mustDo(t, logical.ReadOperation, "role/app", nil).Data
	if d["audience"] != "other" || d["token_num_uses"] != 3 {
		t.Fatalf("after update: %v", d)
	}
	h.mustDo(t, logical.UpdateOperation, "role/two", map[string]any{"bound_service_account_names": "*", "bound_service_account_namespaces": "*"})
	keys := h.mustDo(t, logical.ListOperation, "role/", nil).Data["keys"].([]string)
	if !slices.Equal(keys, []string{"app", "two"}) {
		t.Fatalf("list = %v", keys)
	}
	h.mustDo(t, logical.DeleteOperation, "role/app", nil)
	if r := h.mustDo(t, logical.ReadOperation, "role/app", nil); r != nil {
		t.Fatal("deleted role still reads")
	}
}

func TestRoleRefusals(t *testing.T) {
	h := newHarness(t)
	ok := func() map[string]any {
		return map[string]any{"bound_service_account_names": "app", "bound_service_account_namespaces": "ns"}
	}
	with := func(k string, v any) map[string]any { m := ok(); m[k] = v; return m }
	cases := map[string]struct {
		path string
		data map[string]any
		want string
	}{
		"no names":        {"role/a", map[string]any{"bound_service_account_namespaces": "ns"}, `"bound_service_account_names" can not be empty`},
		"no namespaces":   {"role/a", map[string]any{"bound_service_account_names": "app"}, `"bound_service_account_namespaces" can not be empty`},
		"star mixed":      {"role/a", with("bound_service_account_names", "*,app"), `can not mix "*"`},
		"alias source":    {"role/a", with("alias_name_source", "pod"), "invalid alias_name_source"},
		"selector json":   {"role/a", with("bound_service_account_namespace_selector", "team=a"), "invalid bound_service_account_namespace_selector"},
		"selector op":     {"role/a", with("bound_service_account_namespace_selector", `{"matchExpressions":[{"key":"a","operator":"Like"}]}`), "unknown operator"},
		"selector empty":  {"role/a", with("bound_service_account_namespace_selector", `{}`), "empty"},
		"root policy":     {"role/a", with("token_policies", "root"), "root"},
		"upper-case name": {"role/App", ok(), `use "app"`},
		"batch with uses": {"role/a", func() map[string]any { m := with("token_type", "batch"); m["token_num_uses"] = 2; return m }(), ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := h.do(logical.UpdateOperation, c.path, c.data)
			wantUserError(t, err, logical.ErrInvalidRequest, c.want, "")
		})
	}
	if r := h.mustDo(t, logical.ListOperation, "role/", nil); r != nil {
		t.Fatalf("refused roles were stored: %v", r.Data)
	}
}

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"team": "a", "env": "prod"}
	cases := map[string]bool{
		`{"matchLabels":{"team":"a"}}`:                                                      true,
		`{"matchLabels":{"team":"b"}}`:                                                      false,
		`{"matchLabels":{"team":"a","env":"dev"}}`:                                          false,
		`{"matchExpressions":[{"key":"env","operator":"In","values":["prod","stage"]}]}`:    true,
		`{"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]}`:         false,
		`{"matchExpressions":[{"key":"missing","operator":"NotIn","values":["x"]}]}`:        true,
		`{"matchExpressions":[{"key":"team","operator":"Exists"}]}`:                         true,
		`{"matchExpressions":[{"key":"team","operator":"DoesNotExist"}]}`:                   false,
		`{"matchLabels":{"team":"a"},"matchExpressions":[{"key":"x","operator":"Exists"}]}`: false,
	}
	for text, want := range cases {
		s, err := parseSelector(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if got := s.matches(labels); got != want {
			t.Errorf("%s matches = %v, want %v", text, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"app", "app", true}, {"app", "apps", false},
		{"app-*", "app-1", true}, {"app-*", "app", false}, {"*-web", "a-web", true}, {"*-web", "a-webx", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false}, {"a*a", "a", false}, {"team-*-prod", "team-x-prod", true},
	}
	for _, c := range cases {
		if got := glob(c.pattern, c.s); got != c.want {
			t.Errorf("glob(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}
