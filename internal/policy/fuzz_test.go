package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

var parseSeeds = []string{
	DefaultPolicy,
	`path "secret/*" { capabilities = ["read", "list"] }`,
	`path "secret/+/x*" { policy = "write" }`,
	`path "a" { allowed_parameters = { "k" = ["v", 1, true] } denied_parameters = { "*" = [] } required_parameters = ["k"] min_wrapping_ttl = "1s" max_wrapping_ttl = 5 }`,
	`{"path": {"a": {"capabilities": ["deny"]}}}`,
	"path \"a\" {\n  capabilities = [\"raed\"]\n}\n",
	"path \"a\" { comment = <<EOT\nhello\nEOT\n}\n",
	`path "a" { min_wrapping_ttl = 1e400 }`,
	`path "${x}" { capabilities = ["read"] }`,
	"",
	"{",
}

func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse("fuzz", text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, not *ParseError: %v", err, err)
			}
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("error is not a 400: %v", err)
			}
			return
		}
		for _, r := range p.Paths {
			if slices.Contains(r.Capabilities, DenyCapability) && len(r.Capabilities) != 1 {
				t.Fatalf("deny mixed with other capabilities: %v", r.Capabilities)
			}
		}
		_ = NewACL(p).Capabilities("secret/x")
		// A valid policy must format, and formatting must keep it valid.
		out, err := Format(text)
		if err != nil {
			return // the printer may reject exotic but valid layouts
		}
		if _, err := Parse("fuzz", out); err != nil {
			t.Fatalf("formatted policy no longer parses: %v\n%s", err, out)
		}
	})
}

// FuzzACL checks that evaluation never panics and that an explicit deny on
// the exact path always wins, whatever else is granted.
func FuzzACL(f *testing.F) {
	f.Add("secret/*", "secret/+/x", "secret/a/x", "read")
	f.Add("*", "+", "a", "list")
	f.Add("a/+/b*", "a/b/", "a/b/", "list")
	f.Add("", "+/+", "/", "update")
	f.Fuzz(func(t *testing.T, glob, wild, path, op string) {
		var rules []PathRule
		for _, pat := range []string{glob, wild, path} {
			pat = strings.TrimPrefix(pat, "/")
			if pat == "" || strings.Contains(pat, "+*") {
				continue
			}
			rules = append(rules, PathRule{Pattern: pat, caps: capRead | capList | capUpdate | capSudo | capCreate})
		}
		grant := &Policy{Name: "grant", Paths: rules}
		acl := NewACL(grant)
		_ = acl.Capabilities(path)
		_ = acl.Allowed(logical.Operation(op), path)

		exact := strings.TrimLeft(path, "/")
		if exact == "" || strings.HasSuffix(exact, "*") || hasSegmentWildcard(exact) {
			return // a deny written with wildcards is not an exact-path deny
		}
		deny := &Policy{Name: "deny", Paths: []PathRule{{Pattern: exact, caps: capDeny}}}
		acl = NewACL(grant, deny)
		if got := acl.Capabilities(path); !slices.Equal(got, []string{DenyCapability}) {
			t.Fatalf("explicit deny on %q lost: %v", path, got)
		}
		if res := acl.Allowed(logical.Operation(op), path); res.Allowed || res.Sudo {
			t.Fatalf("explicit deny on %q lost: %+v", path, res)
		}
	})
}
