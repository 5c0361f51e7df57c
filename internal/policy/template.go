package policy

import (
	"strings"
)

// Templated path patterns, as in Vault: a pattern may contain directives
// such as {{identity.entity.id}} or
// {{identity.entity.aliases.<mount accessor>.metadata.<key>}}, which are
// replaced by the caller's values when an ACL is built for a token. Only
// path patterns are templated, never parameter values (Vault does the same).
//
// A rule whose directives cannot all be resolved for the caller is left out
// of the resolved policy: it matches nothing, and is never widened into a
// wildcard. A resolved value must be one plain path segment or part of one:
// values that are empty, "." or "..", or that contain '/', '*', '+' or a
// control character are treated as unresolvable, so that a value such as
// "a/*" or "+" cannot stretch a rule over other callers' paths. (Vault
// refuses '*' and '+' too and '/' only when configured to; Coffer always
// refuses it, because "team-a/x" would otherwise reach into team-a's
// paths.)

const (
	templateOpen  = "{{"
	templateClose = "}}"
)

// Identity is what a templated policy is resolved against: the entity
// behind a token. TemplateValue returns the value of one directive, given
// without its braces and surrounding spaces (for example
// "identity.entity.metadata.team"), and false when the entity has no such
// value or the directive is unknown. Implementations must be safe for
// concurrent use.
type Identity interface {
	TemplateValue(directive string) (string, bool)
}

// checkTemplate reports whether pattern contains template directives, and
// returns errUnbalancedTemplate when its braces do not pair up.
func checkTemplate(pattern string) (bool, error) {
	first, rest, found := strings.Cut(pattern, templateOpen)
	if strings.Contains(first, templateClose) {
		return false, errUnbalancedTemplate
	}
	if !found {
		return false, nil
	}
	for {
		var piece string
		piece, rest, found = strings.Cut(rest, templateOpen)
		if strings.Count(piece, templateClose) != 1 {
			return false, errUnbalancedTemplate
		}
		if !found {
			return true, nil
		}
	}
}

// Templated reports whether any of p's path patterns has template
// directives, so that an ACL built from p depends on the caller's entity.
func (p *Policy) Templated() bool { return p != nil && p.templated }

// Resolve returns p with every templated pattern replaced by its value for
// id (nil means the caller has no entity). Rules that cannot be resolved
// are dropped. A policy without templates is returned as it is; otherwise
// the result is a new Policy sharing p's immutable parts.
func (p *Policy) Resolve(id Identity) *Policy {
	if !p.Templated() {
		return p
	}
	out := *p
	out.templated = false
	out.Paths = make([]PathRule, 0, len(p.Paths))
	for _, r := range p.Paths {
		if r.templated {
			pattern, ok := resolvePattern(r.Pattern, id)
			if !ok {
				continue
			}
			r.Pattern, r.templated = pattern, false
		}
		out.Paths = append(out.Paths, r)
	}
	return &out
}

// resolvePattern substitutes every directive in a pattern that passed
// checkTemplate, reporting false when one cannot be resolved safely.
func resolvePattern(pattern string, id Identity) (string, bool) {
	if id == nil {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(pattern) + 32)
	head, rest, _ := strings.Cut(pattern, templateOpen)
	b.WriteString(head)
	for rest != "" {
		directive, after, _ := strings.Cut(rest, templateClose)
		v, ok := id.TemplateValue(strings.TrimSpace(directive))
		if !ok || !SafeTemplateValue(v) {
			return "", false
		}
		b.WriteString(v)
		var literal string
		literal, rest, _ = strings.Cut(after, templateOpen)
		b.WriteString(literal)
	}
	return b.String(), true
}

// SafeTemplateValue reports whether v may be substituted into a path
// pattern: it must be non-empty, neither "." nor "..", and free of '/',
// '*', '+' and control characters, so that it can only name itself and
// never widen the rule it lands in.
func SafeTemplateValue(v string) bool {
	if v == "" || v == "." || v == ".." {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '/', c == '*', c == '+', c < 0x20, c == 0x7f:
			return false
		}
	}
	return true
}
