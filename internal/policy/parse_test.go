package policy

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		text         string
		line, column int
		msg          string
	}{
		"unknown capability": {
			text: "# dev\npath \"secret/*\" {\n  capabilities = [\"read\", \"raed\"]\n}\n",
			line: 3, column: 27, msg: `unknown capability "raed"`,
		},
		"unknown top-level key": {
			text: "path \"a\" {\n  capabilities = [\"read\"]\n}\npaht \"b\" {}\n",
			line: 4, column: 1, msg: `unknown key "paht" (expected "path")`,
		},
		"unknown path key": {
			text: "path \"a\" {\n  capabilites = [\"read\"]\n}\n",
			line: 2, column: 3, msg: `unknown key "capabilites" in path "a"`,
		},
		"capabilities not a list": {
			text: "path \"a\" {\n  capabilities = { read = true }\n}\n",
			line: 2, column: 18, msg: "capabilities must be a list of strings",
		},
		"capability not a string": {
			text: "path \"a\" {\n  capabilities = [\"read\", 3]\n}\n",
			line: 2, column: 27, msg: "capabilities must be a list of strings",
		},
		"unknown legacy policy": {
			text: "path \"a\" {\n  policy = \"rwx\"\n}\n",
			line: 2, column: 12, msg: `unknown policy "rwx" (expected deny, read, write, sudo or list)`,
		},
		"syntax error": {
			text: "path \"a\" {\n  capabilities = [\"read\"\n}\n",
			line: 3, column: 1, msg: "syntax error: error parsing list, expected comma or list end, got: RBRACE",
		},
		"duplicate key": {
			text: "path \"a\" {\n  capabilities = [\"read\"]\n  capabilities = [\"list\"]\n}\n",
			line: 3, column: 3, msg: `duplicate key "capabilities" (first set on line 2)`,
		},
		"path without block": {
			text: "path = \"a\"\n",
			line: 1, column: 8, msg: `"path" must be a block: path "secret/*" { capabilities = [...] }`,
		},
		"plus star": {
			text: "path \"a/+*\" {\n  capabilities = [\"read\"]\n}\n",
			line: 1, column: 6, msg: `path "a/+*": invalid use of wildcards ("+*" is forbidden)`,
		},
		"bad ttl": {
			text: "path \"a\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = \"soon\"\n}\n",
			line: 3, column: 22, msg: `max_wrapping_ttl: invalid duration "soon"`,
		},
		"max below min": {
			text: "path \"a\" {\n  min_wrapping_ttl = \"1h\"\n  max_wrapping_ttl = 60\n}\n",
			line: 3, column: 3, msg: "max_wrapping_ttl cannot be less than min_wrapping_ttl",
		},
		"allowed parameters not a map": {
			text: "path \"a\" {\n  allowed_parameters = [\"x\"]\n}\n",
			line: 2, column: 24, msg: "allowed_parameters must be a map of parameter names to lists of values",
		},
		"number overflow": {
			text: "path \"a\" {\n  min_wrapping_ttl = 99999999999999999999999\n}\n",
			line: 2, column: 22, msg: "min_wrapping_ttl: invalid number 99999999999999999999999",
		},
		"only comments": {
			text: "# nothing here\n", msg: `policy has no "path" blocks`,
		},
		"json without paths": {
			text: "{}", msg: `policy has no "path" blocks`,
		},
		"truncated json": {
			text: "{\"path\"", msg: "syntax error: policy text starts with '{' but is not valid JSON",
		},
		"empty text": {
			text: " \n\t", msg: "policy text is empty",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("Dev", tc.text)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want *ParseError, got %T %v", err, err)
			}
			if pe.Line != tc.line || pe.Column != tc.column || pe.Msg != tc.msg {
				t.Fatalf("got line %d column %d %q, want line %d column %d %q",
					pe.Line, pe.Column, pe.Msg, tc.line, tc.column, tc.msg)
			}
			if pe.Policy != "dev" {
				t.Fatalf("policy name %q, want lower-cased dev", pe.Policy)
			}
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("error does not unwrap to ErrInvalidRequest")
			}
			var ue *logical.UserError
			if !errors.As(err, &ue) || ue.Msg != err.Error() {
				t.Fatalf("error does not carry a UserError with its message: %v", ue)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Parse("dev", "path \"secret/*\" {\n  capabilities = [\"read\"]\n  policy = \"read\"\n}\npath \"x\" {\n    capabilities = [\"raed\"]\n}\n")
	want := `policy "dev": line 6, column 21: unknown capability "raed"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestParseNames(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		name string
		want error
	}{
		"root":       {name: "root", want: ErrRootPolicy},
		"root upper": {name: " ROOT ", want: ErrRootPolicy},
		"empty":      {name: "  ", want: ErrEmptyName},
		"ok":         {name: "Dev"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tc.name, `path "a" { capabilities = ["read"] }`)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want != nil && !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("%v is not a 400", err)
			}
			if tc.want == nil && p.Name != "dev" {
				t.Fatalf("name %q", p.Name)
			}
		})
	}
}

func TestCheckWriteDelete(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		name        string
		write, dele error
	}{
		"root":    {name: "Root", write: ErrRootPolicy, dele: ErrRootPolicy},
		"default": {name: "default", dele: ErrDefaultPolicyDelete},
		"other":   {name: "dev"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := CheckWrite(tc.name); !errors.Is(err, tc.write) {
				t.Fatalf("write: got %v want %v", err, tc.write)
			}
			if err := CheckDelete(tc.name); !errors.Is(err, tc.dele) {
				t.Fatalf("delete: got %v want %v", err, tc.dele)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		text string
		want []string
	}{
		"capabilities sorted":  {`path "a" { capabilities = ["update", "read", "create"] }`, []string{"create", "read", "update"}},
		"deny alone":           {`path "a" { capabilities = ["read", "deny"] }`, []string{"deny"}},
		"legacy read":          {`path "a" { policy = "read" }`, []string{"list", "read"}},
		"legacy write":         {`path "a" { policy = "write" }`, []string{"create", "delete", "list", "read", "update"}},
		"legacy sudo":          {`path "a" { policy = "sudo" }`, []string{"create", "delete", "list", "read", "sudo", "update"}},
		"legacy deny":          {`path "a" { policy = "deny" }`, []string{"deny"}},
		"legacy list":          {`path "a" { policy = "list" }`, []string{"list"}},
		"legacy plus explicit": {`path "a" { policy = "read" capabilities = ["patch"] }`, []string{"list", "patch", "read"}},
		"single string":        {`path "a" { capabilities = "read" }`, []string{"read"}},
		"none":                 {`path "a" { comment = "nothing" }`, []string{}},
		"json":                 {`{"path": {"a": {"capabilities": ["read", "list"]}}}`, []string{"list", "read"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("t", tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Paths) != 1 || p.Paths[0].Pattern != "a" {
				t.Fatalf("paths %+v", p.Paths)
			}
			if got := p.Paths[0].Capabilities; !slices.Equal(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func TestParseKeepsVaultKeys(t *testing.T) {
	t.Parallel()
	text := `
name = "ignored"
path "/secret/data/app" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "Env"  = ["dev", "prod-*"]
    "size" = [1, 2]
    "*"    = []
  }
  denied_parameters = {
    "admin" = []
  }
  required_parameters = ["Env"]
  min_wrapping_ttl = 60
  max_wrapping_ttl = "1h"
}
`
	p, err := Parse("app", text)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Paths[0]
	if r.Pattern != "secret/data/app" || r.Line != 3 {
		t.Fatalf("pattern %q line %d", r.Pattern, r.Line)
	}
	if got := r.AllowedParameters["env"]; len(got) != 2 || got[1] != "prod-*" {
		t.Fatalf("allowed env %v", got)
	}
	if got := r.AllowedParameters["size"]; len(got) != 2 || got[0] != int64(1) {
		t.Fatalf("allowed size %#v", got)
	}
	if got, ok := r.DeniedParameters["admin"]; !ok || len(got) != 0 {
		t.Fatalf("denied %v", r.DeniedParameters)
	}
	if !slices.Equal(r.RequiredParameters, []string{"env"}) {
		t.Fatalf("required %v", r.RequiredParameters)
	}
	if r.MinWrappingTTL != time.Minute || r.MaxWrappingTTL != time.Hour {
		t.Fatalf("ttls %v %v", r.MinWrappingTTL, r.MaxWrappingTTL)
	}
}

func TestDefaultPolicyParses(t *testing.T) {
	t.Parallel()
	p, err := Parse(DefaultName, DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	acl := NewACL(p)
	if !acl.Allowed(logical.ReadOperation, "auth/token/lookup-self").Allowed {
		t.Fatal("default policy must allow lookup-self")
	}
	if acl.Allowed(logical.ReadOperation, "secret/data/x").Allowed {
		t.Fatal("default policy must not grant secrets")
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in, want string
		wantErr  bool
	}{
		"reindents": {
			in:   "path \"a\" {\ncapabilities=[\"read\"]\n  # why\n     policy = \"read\"\n}",
			want: "path \"a\" {\n  capabilities = [\"read\"]\n\n  # why\n  policy = \"read\"\n}\n",
		},
		"invalid capability": {in: `path "a" { capabilities = ["nope"] }`, wantErr: true},
		"syntax":             {in: `path "a" {`, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Format(tc.in)
			if tc.wantErr {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("want 400-class error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			again, err := Format(got)
			if err != nil || again != got {
				t.Fatalf("format is not idempotent: %q %v", again, err)
			}
		})
	}
}

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"admin": true, "team-a.v2": true, "ADMIN": false, "admin ": false, " admin": false, "a/b": false, "": false} {
		_, err := CanonicalName(name)
		if (err == nil) != ok {
			t.Errorf("%q: err = %v", name, err)
		}
		if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%q: not a 400: %v", name, err)
		}
	}
}
