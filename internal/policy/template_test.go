package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// fakeIdentity answers directives from a map.
type fakeIdentity map[string]string

func (f fakeIdentity) TemplateValue(directive string) (string, bool) {
	v, ok := f[directive]
	return v, ok
}

func TestCheckTemplate(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		pattern   string
		templated bool
		err       bool
	}{
		"plain":                     {pattern: "secret/data/a/*"},
		"one directive":             {pattern: "secret/data/{{identity.entity.id}}/*", templated: true},
		"two directives":            {pattern: "{{a}}/x/{{b}}", templated: true},
		"adjacent directives":       {pattern: "{{a}}{{b}}", templated: true},
		"open only":                 {pattern: "secret/{{identity.entity.id", err: true},
		"close only":                {pattern: "secret/identity}}/x", err: true},
		"close before open":         {pattern: "secret/}}{{a}}", err: true},
		"double close":              {pattern: "secret/{{a}}}}", err: true},
		"nested open":               {pattern: "secret/{{a{{b}}}}", err: true},
		"stray close after one":     {pattern: "{{a}}/b}}", err: true},
		"single braces are literal": {pattern: "secret/{a}/x"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := checkTemplate(tc.pattern)
			if (err != nil) != tc.err || got != tc.templated {
				t.Fatalf("checkTemplate(%q) = %v, %v; want templated=%v err=%v", tc.pattern, got, err, tc.templated, tc.err)
			}
		})
	}
}

func TestParseRefusesUnbalancedTemplate(t *testing.T) {
	t.Parallel()
	_, err := Parse("t", rule("secret/{{identity.entity.id/*", "read"))
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "unbalanced templating") || pe.Line != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestTemplatedFlag(t *testing.T) {
	t.Parallel()
	plain, err := Parse("plain", rule("secret/a", "read"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse("tpl", rule("secret/a", "read")+rule("secret/{{identity.entity.id}}", "read"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Templated() || !tpl.Templated() {
		t.Fatalf("Templated: plain=%v tpl=%v", plain.Templated(), tpl.Templated())
	}
	if plain.Resolve(fakeIdentity{}) != plain {
		t.Fatal("Resolve of a plain policy must return it unchanged")
	}
	r := tpl.Resolve(fakeIdentity{"identity.entity.id": "e1"})
	if r.Templated() || len(r.Paths) != 2 || r.Paths[1].Pattern != "secret/e1" || tpl.Paths[1].Pattern != "secret/{{identity.entity.id}}" {
		t.Fatalf("resolved %+v; original %+v", r.Paths, tpl.Paths)
	}
}

// TestResolveTemplates resolves one templated policy for an identity and
// checks what the resulting ACL grants. The injection cases give values
// that would widen the rule if they were substituted as they are; each must
// leave the rule matching nothing, while the policy's plain rules still
// apply.
func TestResolveTemplates(t *testing.T) {
	t.Parallel()
	const ns = "identity.entity.aliases.auth_userpass_1.metadata.namespace"
	nsPolicy := rule("secret/data/{{"+ns+"}}/*", "read") + rule("secret/data/shared", "read")
	globAfter := rule("secret/data/{{identity.entity.name}}*", "read")
	type check struct {
		path string
		want []string
	}
	read, deny := []string{"read"}, []string{"deny"}
	cases := map[string]struct {
		policy string
		id     Identity
		checks []check
	}{
		"alias metadata resolves": {
			policy: nsPolicy, id: fakeIdentity{ns: "team-a"},
			checks: []check{{"secret/data/team-a/db", read}, {"secret/data/team-b/db", deny}, {"secret/data/shared", read}},
		},
		"spaces inside the braces": {
			policy: rule("secret/{{ identity.entity.id }}/x", "read"), id: fakeIdentity{"identity.entity.id": "e1"},
			checks: []check{{"secret/e1/x", read}},
		},
		"two directives": {
			policy: rule("kv/{{identity.entity.metadata.team}}/{{identity.entity.name}}", "read"),
			id:     fakeIdentity{"identity.entity.metadata.team": "ops", "identity.entity.name": "bob"},
			checks: []check{{"kv/ops/bob", read}, {"kv/ops/alice", deny}},
		},
		"no entity": {
			policy: nsPolicy, id: nil,
			checks: []check{{"secret/data/team-a/db", deny}, {"secret/data/{{" + ns + "}}/db", deny}, {"secret/data/shared", read}},
		},
		"missing value": {
			policy: nsPolicy, id: fakeIdentity{"identity.entity.id": "e1"},
			checks: []check{{"secret/data/team-a/db", deny}, {"secret/data//db", deny}, {"secret/data/shared", read}},
		},
		"injected glob and slash": {
			policy: nsPolicy, id: fakeIdentity{ns: "a/*"},
			checks: []check{{"secret/data/a/b/c", deny}, {"secret/data/team-b/db", deny}, {"secret/data/shared", read}},
		},
		"injected star": {
			policy: nsPolicy, id: fakeIdentity{ns: "*"},
			checks: []check{{"secret/data/team-b/db", deny}, {"secret/data/*/db", deny}},
		},
		"injected trailing star": {
			policy: globAfter, id: fakeIdentity{"identity.entity.name": "a*"},
			checks: []check{{"secret/data/a", deny}, {"secret/data/ab", deny}},
		},
		"injected plus segment": {
			policy: nsPolicy, id: fakeIdentity{ns: "+"},
			checks: []check{{"secret/data/team-b/db", deny}, {"secret/data/+/db", deny}},
		},
		"plus inside a value": {
			policy: nsPolicy, id: fakeIdentity{ns: "a+b"},
			checks: []check{{"secret/data/a+b/db", deny}},
		},
		"injected path segments": {
			policy: nsPolicy, id: fakeIdentity{ns: "team-b/db"},
			checks: []check{{"secret/data/team-b/db/x", deny}, {"secret/data/team-b/db", deny}},
		},
		"dot dot": {
			policy: nsPolicy, id: fakeIdentity{ns: ".."},
			checks: []check{{"secret/data/../db", deny}, {"secret/db", deny}},
		},
		"empty value before a glob": {
			policy: globAfter, id: fakeIdentity{"identity.entity.name": ""},
			checks: []check{{"secret/data/anything", deny}, {"secret/data/", deny}},
		},
		"control character": {
			policy: nsPolicy, id: fakeIdentity{ns: "team-a\n"},
			checks: []check{{"secret/data/team-a\n/db", deny}, {"secret/data/team-a/db", deny}},
		},
		"braces in a value are literal": {
			policy: nsPolicy, id: fakeIdentity{ns: "{{identity.entity.id}}"},
			checks: []check{{"secret/data/{{identity.entity.id}}/db", read}, {"secret/data/e1/db", deny}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("tpl", tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			acl := NewACL(p.Resolve(tc.id))
			for _, c := range tc.checks {
				if got := acl.Capabilities(c.path); !slices.Equal(got, c.want) {
					t.Errorf("%q: %v, want %v", c.path, got, c.want)
				}
			}
		})
	}
}

// TestUnresolvedTemplateMatchesNothing: a templated policy handed to NewACL
// without Resolve must not take its directives literally.
func TestUnresolvedTemplateMatchesNothing(t *testing.T) {
	t.Parallel()
	acl := mustACL(t, rule("secret/{{identity.entity.id}}", "read")+rule("secret/plain", "read"))
	if got := acl.Capabilities("secret/{{identity.entity.id}}"); !slices.Equal(got, []string{"deny"}) {
		t.Fatalf("literal directive path: %v", got)
	}
	if got := acl.Capabilities("secret/plain"); !slices.Equal(got, []string{"read"}) {
		t.Fatalf("plain rule: %v", got)
	}
}

func TestSafeTemplateValue(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"team-a": true, "a.b": true, "...": true, "a b": true, "ünï": true, "a%2Fb": true,
		"": false, ".": false, "..": false, "a/b": false, "/": false, "*": false, "a*": false,
		"+": false, "a+b": false, "a\x00": false, "\t": false, "a\x7f": false,
	} {
		if got := SafeTemplateValue(v); got != want {
			t.Errorf("SafeTemplateValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// FuzzResolveTemplate checks that whatever value an entity carries, a
// resolved pattern has exactly the '/', '*' and '+' its policy author
// wrote: a value can never add a segment or a wildcard.
func FuzzResolveTemplate(f *testing.F) {
	for _, s := range [][2]string{
		{"secret/data/{{identity.entity.id}}/*", "e1"},
		{"secret/{{ identity.entity.name }}*", "a*"},
		{"{{a}}{{b}}/+/x", "/"},
		{"kv/{{a}}", ".."},
		{"kv/{{a}}/{{b}}", "+"},
		{"kv/{{a", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		p, err := Parse("fuzz", rule(pattern, "read"))
		if err != nil || len(p.Paths) != 1 {
			return
		}
		got := p.Resolve(anyValue(value))
		if !p.Templated() {
			if got != p {
				t.Fatal("plain policy changed by Resolve")
			}
			return
		}
		shape := p.Resolve(anyValue("x"))
		if len(got.Paths) == 0 {
			if SafeTemplateValue(value) {
				t.Fatalf("safe value %q dropped the rule %q", value, pattern)
			}
			return
		}
		if !SafeTemplateValue(value) {
			t.Fatalf("unsafe value %q resolved into %q", value, got.Paths[0].Pattern)
		}
		for _, c := range []string{"/", "*", "+"} {
			if strings.Count(got.Paths[0].Pattern, c) != strings.Count(shape.Paths[0].Pattern, c) {
				t.Fatalf("value %q changed the count of %q: %q vs %q", value, c, got.Paths[0].Pattern, shape.Paths[0].Pattern)
			}
		}
		_ = NewACL(got).Capabilities("secret/data/x")
	})
}

// anyValue answers every directive with the same value.
type anyValue string

func (v anyValue) TemplateValue(string) (string, bool) { return string(v), true }
