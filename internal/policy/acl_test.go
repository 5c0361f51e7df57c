package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// rule builds policy text for one path block.
func rule(pattern string, caps ...string) string {
	return fmt.Sprintf("path %q {\n  capabilities = [%s]\n}\n", pattern, quoteAll(caps))
}

func quoteAll(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", s)
	}
	return out
}

func mustACL(t testing.TB, texts ...string) *ACL {
	t.Helper()
	var ps []*Policy
	for i, text := range texts {
		p, err := Parse(fmt.Sprintf("p%d", i), text)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return NewACL(ps...)
}

func TestCapabilitiesPriority(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		policies []string
		path     string
		want     []string
	}{
		"nothing matches": {
			[]string{rule("secret/a", "read")}, "secret/b", []string{"deny"},
		},
		"exact beats glob": {
			[]string{rule("secret/*", "read"), rule("secret/a", "update")}, "secret/a", []string{"update"},
		},
		"longer glob wins": {
			[]string{rule("secret/*", "read"), rule("secret/app/*", "list")}, "secret/app/x", []string{"list"},
		},
		"dir glob does not match the dir itself": {
			[]string{rule("secret/foo/*", "read")}, "secret/foo", []string{"deny"},
		},
		"glob without slash matches the dir itself": {
			[]string{rule("secret/foo*", "read")}, "secret/foo", []string{"read"},
		},
		"glob without slash matches siblings": {
			[]string{rule("secret/foo*", "read")}, "secret/foobar/x", []string{"read"},
		},
		"plus matches one segment": {
			[]string{rule("secret/+/config", "read")}, "secret/app/config", []string{"read"},
		},
		"plus does not match two segments": {
			[]string{rule("secret/+/config", "read")}, "secret/a/b/config", []string{"deny"},
		},
		"plus does not match a longer path": {
			[]string{rule("secret/+", "read")}, "secret/a/b", []string{"deny"},
		},
		"plus with trailing glob": {
			[]string{rule("secret/+/data/*", "read")}, "secret/x/data/y/z", []string{"read"},
		},
		"plus with partial trailing glob": {
			[]string{rule("secret/+/da*", "read")}, "secret/x/data/y", []string{"read"},
		},
		"later first wildcard wins": {
			[]string{rule("secret/+/config", "read"), rule("secret/app/+", "update")}, "secret/app/config", []string{"update"},
		},
		"later glob beats earlier plus": {
			[]string{rule("secret/+/config", "read"), rule("secret/app/c*", "update")}, "secret/app/config", []string{"update"},
		},
		"later plus beats earlier glob": {
			[]string{rule("secret/*", "read"), rule("secret/app/+", "update")}, "secret/app/config", []string{"update"},
		},
		"not ending in glob beats glob at same position": {
			[]string{rule("secret/+/*", "read"), rule("secret/+/config", "update")}, "secret/app/config", []string{"update"},
		},
		"plus beats glob at same position": {
			[]string{rule("secret/*", "read"), rule("secret/+", "update")}, "secret/app", []string{"update"},
		},
		"fewer plus segments win": {
			[]string{rule("secret/+/+/c", "read"), rule("secret/+/b/c", "update")}, "secret/a/b/c", []string{"update"},
		},
		"longer wins among equals": {
			[]string{rule("secret/+/b*", "read"), rule("secret/+/ba*", "update")}, "secret/a/bar", []string{"update"},
		},
		"lexicographically larger wins": {
			[]string{rule("a/+/+/c", "read"), rule("a/+/b/+", "update")}, "a/x/b/c", []string{"update"},
		},
		"same pattern merges": {
			[]string{rule("secret/*", "read"), rule("secret/*", "list", "sudo")}, "secret/x", []string{"list", "read", "sudo"},
		},
		"deny in merge wins": {
			[]string{rule("secret/*", "read"), rule("secret/*", "deny")}, "secret/x", []string{"deny"},
		},
		"deny on exact beats broader grant": {
			[]string{rule("secret/*", "read", "update"), rule("secret/admin", "deny")}, "secret/admin", []string{"deny"},
		},
		"more specific grant beats broader deny": {
			[]string{rule("secret/*", "deny"), rule("secret/app/*", "read")}, "secret/app/x", []string{"read"},
		},
		"empty capability list is deny": {
			[]string{`path "secret/x" { comment = "n" }`}, "secret/x", []string{"deny"},
		},
		"list fallback to path without slash": {
			[]string{rule("secret/metadata", "list")}, "secret/metadata/", []string{"list"},
		},
		"leading slash ignored": {
			[]string{rule("/secret/a", "read")}, "/secret/a", []string{"read"},
		},
		"star everything": {
			[]string{rule("*", "read")}, "anything/at/all", []string{"read"},
		},
		"literal star in the middle": {
			[]string{rule("secret/*/x", "read")}, "secret/a/x", []string{"deny"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			acl := mustACL(t, tc.policies...)
			if got := acl.Capabilities(tc.path); !slices.Equal(got, tc.want) {
				t.Fatalf("Capabilities(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	policies := []string{
		rule("secret/data/*", "read", "create", "update"),
		rule("secret/metadata/*", "list"),
		rule("sys/mounts/*", "update", "sudo"),
		rule("secret/data/locked", "deny"),
		rule("secret/data/locked", "read", "sudo"),
	}
	cases := map[string]struct {
		op   logical.Operation
		path string
		want Result
	}{
		"read granted":         {logical.ReadOperation, "secret/data/a", Result{Allowed: true}},
		"delete not granted":   {logical.DeleteOperation, "secret/data/a", Result{}},
		"list with slash":      {logical.ListOperation, "secret/metadata/", Result{Allowed: true}},
		"list nested":          {logical.ListOperation, "secret/metadata/a/", Result{Allowed: true}},
		"list on metadata dir": {logical.ListOperation, "secret/metadata", Result{}},
		"sudo reported":        {logical.UpdateOperation, "sys/mounts/kv", Result{Allowed: true, Sudo: true}},
		"sudo without op":      {logical.ReadOperation, "sys/mounts/kv", Result{Sudo: true}},
		"deny beats sudo":      {logical.ReadOperation, "secret/data/locked", Result{}},
		"unknown op":           {logical.Operation("help"), "secret/data/a", Result{}},
		"unmatched":            {logical.ReadOperation, "other/x", Result{}},
	}
	acl := mustACL(t, policies...)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := acl.Allowed(tc.op, tc.path); got != tc.want {
				t.Fatalf("Allowed(%s, %q) = %+v, want %+v", tc.op, tc.path, got, tc.want)
			}
		})
	}
}

func TestRootACL(t *testing.T) {
	t.Parallel()
	p, err := Parse("dev", rule("secret/*", "deny"))
	if err != nil {
		t.Fatal(err)
	}
	acl := NewACL(p, Root(), nil)
	want := Result{Allowed: true, Sudo: true, IsRoot: true}
	if got := acl.Allowed(logical.DeleteOperation, "secret/x"); got != want {
		t.Fatalf("got %+v", got)
	}
	if got := acl.Capabilities("anything"); !slices.Equal(got, []string{"root"}) {
		t.Fatalf("got %v", got)
	}
	if !Root().IsRoot() || p.IsRoot() {
		t.Fatal("IsRoot is wrong")
	}
}

func TestAllowedParameters(t *testing.T) {
	t.Parallel()
	text := `
path "secret/data/app" {
  capabilities = ["create", "update", "read", "list"]
  allowed_parameters = {
    "env"  = ["dev", "prod-*"]
    "size" = [1, 2]
    "free" = []
  }
  denied_parameters = {
    "free" = ["forbidden"]
  }
}
path "secret/data/req" {
  capabilities = ["update"]
  required_parameters = ["id"]
}
path "secret/data/nodelete" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
path "secret/data/open" {
  capabilities = ["update"]
  allowed_parameters = { "*" = [] "env" = ["dev"] }
}
`
	acl := mustACL(t, text)
	cases := map[string]struct {
		op   logical.Operation
		path string
		data map[string]any
		want bool
	}{
		"no data":              {logical.UpdateOperation, "secret/data/app", nil, true},
		"allowed value":        {logical.UpdateOperation, "secret/data/app", map[string]any{"env": "dev"}, true},
		"globbed value":        {logical.UpdateOperation, "secret/data/app", map[string]any{"ENV": "prod-eu"}, true},
		"bad value":            {logical.UpdateOperation, "secret/data/app", map[string]any{"env": "qa"}, false},
		"float number":         {logical.UpdateOperation, "secret/data/app", map[string]any{"size": float64(2)}, true},
		"json number":          {logical.UpdateOperation, "secret/data/app", map[string]any{"size": json.Number("2")}, true},
		"json float number":    {logical.UpdateOperation, "secret/data/app", map[string]any{"size": json.Number("2.0")}, true},
		"bad json number":      {logical.UpdateOperation, "secret/data/app", map[string]any{"size": json.Number("3")}, false},
		"array of allowed":     {logical.UpdateOperation, "secret/data/app", map[string]any{"env": []any{"dev", "prod-eu"}}, true},
		"array with a bad one": {logical.UpdateOperation, "secret/data/app", map[string]any{"env": []any{"dev", "qa"}}, false},
		"array denied element": {logical.UpdateOperation, "secret/data/app", map[string]any{"free": []any{"ok", []any{"forbidden"}}}, false},
		"bad number":           {logical.UpdateOperation, "secret/data/app", map[string]any{"size": float64(3)}, false},
		"unlisted parameter":   {logical.UpdateOperation, "secret/data/app", map[string]any{"other": "x"}, false},
		"any value":            {logical.UpdateOperation, "secret/data/app", map[string]any{"free": "whatever"}, true},
		"denied value":         {logical.UpdateOperation, "secret/data/app", map[string]any{"free": "forbidden"}, false},
		"list ignores params":  {logical.ListOperation, "secret/data/app", map[string]any{"other": "x"}, true},
		"required missing":     {logical.UpdateOperation, "secret/data/req", map[string]any{"x": 1}, false},
		"required present":     {logical.UpdateOperation, "secret/data/req", map[string]any{"ID": 1}, true},
		"required nil data":    {logical.UpdateOperation, "secret/data/req", nil, false},
		"deny all parameters":  {logical.UpdateOperation, "secret/data/nodelete", map[string]any{"x": 1}, false},
		"deny all but no data": {logical.UpdateOperation, "secret/data/nodelete", nil, true},
		"star allows others":   {logical.UpdateOperation, "secret/data/open", map[string]any{"x": 1}, true},
		"star keeps listed":    {logical.UpdateOperation, "secret/data/open", map[string]any{"env": "prod"}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := acl.AllowedData(tc.op, tc.path, tc.data).Allowed; got != tc.want {
				t.Fatalf("AllowedData = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergedParameters(t *testing.T) {
	t.Parallel()
	a := `path "kv/x" {
  capabilities = ["update"]
  allowed_parameters = { "env" = ["dev"] }
}`
	b := `path "kv/x" {
  capabilities = ["update"]
  allowed_parameters = { "env" = ["prod"] }
}`
	acl := mustACL(t, a, b)
	for _, v := range []string{"dev", "prod"} {
		if !acl.AllowedData(logical.UpdateOperation, "kv/x", map[string]any{"env": v}).Allowed {
			t.Fatalf("merged allowed_parameters should allow %q", v)
		}
	}
	if acl.AllowedData(logical.UpdateOperation, "kv/x", map[string]any{"env": "qa"}).Allowed {
		t.Fatal("qa is allowed by neither policy")
	}
}

// TestListCannotPassADeny covers the list fallbacks: a broader glob matched
// against the path without its trailing slash, or an exact rule on it, must
// not override a deny that matches the listed folder itself.
func TestListCannotPassADeny(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		hcl     string
		path    string
		allowed bool
	}{
		"glob deny on folder": {`path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }`, "secret/metadata/private/", false},
		"exact grant, glob deny": {`path "secret/metadata/private" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }`, "secret/metadata/private/", false},
		"sibling still listable": {`path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }`, "secret/metadata/public/", true},
		"mount root listable":     {`path "secret/metadata/*" { capabilities = ["list"] }`, "secret/metadata/", true},
		"exact rule covers slash": {`path "secret/metadata/team" { capabilities = ["list"] }`, "secret/metadata/team/", true},
		"plus rule on trimmed":    {`path "secret/+/team" { capabilities = ["list"] }`, "secret/metadata/team/", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("p", tc.hcl)
			if err != nil {
				t.Fatal(err)
			}
			if got := NewACL(p).Allowed(logical.ListOperation, tc.path).Allowed; got != tc.allowed {
				t.Fatalf("LIST %s allowed = %v, want %v", tc.path, got, tc.allowed)
			}
		})
	}
}
