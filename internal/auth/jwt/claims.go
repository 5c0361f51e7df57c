package jwt

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer/internal/jwtverify"
)

// matchBoundClaims checks that every bound claim is present and has one of
// its bound values (any of them, when the claim is a list). Claims are
// taken in name order so that the message is always about the same one.
func matchBoundClaims(c jwtverify.Claims, typ string, bound map[string]any) error {
	for _, ref := range slices.Sorted(maps.Keys(bound)) {
		act, ok := c.Lookup(ref)
		if !ok {
			return fmt.Errorf("claim %q is missing", ref)
		}
		actVals, ok := scalars(act)
		if !ok {
			return fmt.Errorf("claim %q is not a string, number, boolean or list of them", ref)
		}
		want, _ := scalars(bound[ref]) // checked when the role was written
		if !anyMatch(want, actVals, typ == boundClaimsGlob) {
			return fmt.Errorf("claim %q does not match any associated bound claim values", ref)
		}
	}
	return nil
}

func anyMatch(want, got []any, glob bool) bool {
	for _, w := range want {
		for _, g := range got {
			if glob {
				ws, wok := w.(string)
				gs, gok := g.(string)
				if wok && gok && globMatch(ws, gs) {
					return true
				}
				continue
			}
			if scalarEqual(w, g) {
				return true
			}
		}
	}
	return false
}

// scalarEqual compares two claim scalars of the same kind; numbers compare
// by value ("1" and "1.0" are equal), never with strings.
func scalarEqual(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	xa, ok1 := number(a)
	xb, ok2 := number(b)
	return ok1 && ok2 && xa.equal(xb)
}

// num is a JSON number as an exact integer when it is one, else a float.
type num struct {
	isInt bool
	i     int64
	f     float64
}

func (n num) equal(m num) bool {
	if n.isInt && m.isInt {
		return n.i == m.i
	}
	return n.float() == m.float()
}

func (n num) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func number(v any) (num, bool) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return num{isInt: true, i: i}, true
		}
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return num{}, false
		}
		if f == float64(int64(f)) {
			return num{isInt: true, i: int64(f)}, true
		}
		return num{f: f}, true
	case float64:
		if x == float64(int64(x)) {
			return num{isInt: true, i: int64(x)}, true
		}
		return num{f: x}, true
	}
	return num{}, false
}

// globMatch reports whether s matches pattern, where "*" matches any run of
// characters (possibly empty) and everything else matches itself, as in
// Vault's bound claims.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// mapClaims returns the metadata claim_mappings ask for: each mapped claim
// present in the token, which must be a string (or a number or boolean,
// written as in JSON).
func mapClaims(c jwtverify.Claims, mappings map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(mappings)+1)
	for src, dst := range mappings {
		v, ok := c.Lookup(src)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			out[dst] = x
		case json.Number:
			out[dst] = x.String()
		case bool:
			out[dst] = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("error converting claim %q to string: claim_mappings take strings, numbers and booleans", src)
		}
	}
	return out, nil
}

// userName reads the alias name from the role's user_claim: a top-level
// claim, or a JSON pointer when user_claim_json_pointer is set.
func userName(c jwtverify.Claims, r *role) (string, error) {
	var v any
	var ok bool
	if r.UserClaimJSONPointer {
		v, ok = c.Lookup(r.UserClaim)
	} else {
		v, ok = c[r.UserClaim]
		ok = ok && v != nil
	}
	if !ok {
		return "", fmt.Errorf("claim %q not found in token", r.UserClaim)
	}
	s, isStr := v.(string)
	if !isStr {
		return "", fmt.Errorf("claim %q could not be converted to string", r.UserClaim)
	}
	if s == "" {
		return "", fmt.Errorf("claim %q is empty", r.UserClaim)
	}
	return s, nil
}
