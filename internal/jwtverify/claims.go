package jwtverify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Claims is a verified token's payload. Numbers are json.Number, objects
// map[string]any, arrays []any. Read it through the methods, which check
// types and name the claim in their errors (never its value).
type Claims map[string]any

// CheckClaimRef reports whether ref is usable as a claim reference: a
// plain name, or a JSON pointer (RFC 6901) when it starts with "/". For
// refusing bad references when a role is written.
func CheckClaimRef(ref string) error {
	if ref == "" {
		return fmt.Errorf("a claim name must not be empty")
	}
	if strings.HasPrefix(ref, "/") {
		if _, ok := pointerTokens(ref); !ok {
			return fmt.Errorf("%q is not a valid JSON pointer (use ~0 for ~ and ~1 for /)", ref)
		}
	}
	return nil
}

// Lookup returns the claim ref names: the top-level claim of that name, or,
// when ref starts with "/", the value the JSON pointer reaches through
// nested objects and arrays ("/kubernetes.io/namespace"). ok is false when
// there is none or its value is null.
func (c Claims) Lookup(ref string) (v any, ok bool) {
	if !strings.HasPrefix(ref, "/") {
		v, ok = c[ref]
		return v, ok && v != nil
	}
	toks, valid := pointerTokens(ref)
	if !valid {
		return nil, false
	}
	var cur any = map[string]any(c)
	for _, t := range toks {
		switch node := cur.(type) {
		case map[string]any:
			if cur, ok = node[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := arrayIndex(t)
			if err != nil || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// pointerTokens splits a JSON pointer into its unescaped reference tokens.
func pointerTokens(ref string) ([]string, bool) {
	parts := strings.Split(ref[1:], "/")
	for i, p := range parts {
		if strings.Contains(p, "~") {
			var b strings.Builder
			for j := 0; j < len(p); j++ {
				if p[j] != '~' {
					b.WriteByte(p[j])
					continue
				}
				if j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1') {
					return nil, false
				}
				b.WriteByte("~/"[p[j+1]-'0'])
				j++
			}
			parts[i] = b.String()
		}
	}
	return parts, true
}

// arrayIndex parses an array reference token: decimal, no leading zero.
func arrayIndex(t string) (int, error) {
	if t == "" || len(t) > 9 || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("bad index")
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return 0, fmt.Errorf("bad index")
		}
	}
	return strconv.Atoi(t)
}

// String returns the claim ref names as a string. Its errors wrap
// ErrInvalidToken and ErrClaimMissing or ErrClaimType.
func (c Claims) String(ref string) (string, error) {
	v, ok := c.Lookup(ref)
	if !ok {
		return "", missing(ref)
	}
	s, ok := v.(string)
	if !ok {
		return "", wrongType(ref, "a string")
	}
	return s, nil
}

// StringList returns the claim ref names as a list: a list of strings, or a
// single string as a list of one (as RFC 7519 allows for "aud"). Its errors
// wrap ErrInvalidToken and ErrClaimMissing or ErrClaimType.
func (c Claims) StringList(ref string) ([]string, error) {
	v, ok := c.Lookup(ref)
	if !ok {
		return nil, missing(ref)
	}
	return asStrings(ref, v)
}

// Audience returns the "aud" claim as a list (empty when absent or of the
// wrong type, which Verify has already refused).
func (c Claims) Audience() []string {
	aud, _ := c.optionalStrings("aud")
	return aud
}

func asStrings(ref string, v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, wrongType(ref, "a string or a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, wrongType(ref, "a string or a list of strings")
}

// optionalString is String for a top-level claim that may be absent ("").
func (c Claims) optionalString(name string) (string, error) {
	v, ok := c[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", wrongType(name, "a string")
	}
	return s, nil
}

// optionalStrings is StringList for a top-level claim that may be absent.
func (c Claims) optionalStrings(name string) ([]string, error) {
	v, ok := c[name]
	if !ok || v == nil {
		return nil, nil
	}
	return asStrings(name, v)
}

// numericDate reads a time claim: a JSON number of seconds since the
// epoch (fractions allowed, as RFC 7519 says).
func (c Claims) numericDate(name string) (float64, bool, error) {
	v, ok := c[name]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false, wrongType(name, "a number of seconds since 1970")
	}
	f, err := n.Float64()
	if err != nil || !finite(f) {
		return 0, false, wrongType(name, "a number of seconds since 1970")
	}
	return f, true, nil
}

func missing(ref string) error {
	return &checkError{kind: ErrClaimMissing, msg: fmt.Sprintf("claim %q is missing", ref)}
}

func wrongType(ref, want string) error {
	return &checkError{kind: ErrClaimType, msg: fmt.Sprintf("claim %q must be %s", ref, want)}
}
