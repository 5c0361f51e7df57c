package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// ParamFunc supplies the parameters of the request being authorised, as
// its handler will receive them (see logical.Param). An ACL calls it only
// when the deciding rule has parameter rules, at most once per check; an
// error (input the handler would refuse) ends the check with that error.
type ParamFunc func() ([]logical.Param, error)

// paramOp reports whether Vault checks parameters for op.
func paramOp(op logical.Operation) bool {
	switch op {
	case logical.ReadOperation, logical.CreateOperation, logical.UpdateOperation, logical.PatchOperation:
		return true
	}
	return false
}

// hasParamRules reports whether pm constrains parameters at all.
func (pm *perms) hasParamRules() bool {
	return len(pm.required) > 0 || len(pm.allowed) > 0 || len(pm.denied) > 0
}

// checkParams applies required, denied and allowed parameters. A rule on
// any of a parameter's names governs it; every element of its value is
// checked: one denied element refuses, and every element must be allowed.
func (pm *perms) checkParams(ps []logical.Param) bool {
	for _, req := range pm.required {
		if !hasName(ps, req) {
			return false
		}
	}
	if len(ps) == 0 {
		return true
	}
	if len(pm.denied) > 0 {
		if _, all := pm.denied["*"]; all {
			return false
		}
		for i := range ps {
			if pm.isDenied(&ps[i]) {
				return false
			}
		}
	}
	if len(pm.allowed) == 0 {
		return true
	}
	_, allowAll := pm.allowed["*"]
	for i := range ps {
		if !pm.isAllowed(&ps[i], allowAll) {
			return false
		}
	}
	return true
}

func hasName(ps []logical.Param, name string) bool {
	for i := range ps {
		for _, n := range ps[i].Names {
			if strings.ToLower(n) == name {
				return true
			}
		}
	}
	return false
}

// isDenied: a denied list on any name of p that is empty (the parameter
// whatever its value) or matches any element.
func (pm *perms) isDenied(p *logical.Param) bool {
	for _, name := range p.Names {
		list, ok := pm.denied[strings.ToLower(name)]
		if !ok {
			continue
		}
		if len(list) == 0 {
			return true
		}
		for _, v := range p.Values {
			if matchesAny(list, v, p.Normalize) {
				return true
			}
		}
	}
	return false
}

// isAllowed: some name of p has an allowed list (or "*" allows unlisted
// parameters), and every element matches a list of one of its names.
func (pm *perms) isAllowed(p *logical.Param, allowAll bool) bool {
	listed := false
	for _, name := range p.Names {
		if list, ok := pm.allowed[strings.ToLower(name)]; ok {
			if len(list) == 0 {
				return true
			}
			listed = true
		}
	}
	if !listed {
		return allowAll
	}
	for _, v := range p.Values {
		ok := false
		for _, name := range p.Names {
			if list, has := pm.allowed[strings.ToLower(name)]; has && matchesAny(list, v, p.Normalize) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchesAny reports whether element v equals one of the policy values,
// each converted through normalize first when the field has a type. A
// policy value the field cannot convert matches nothing, except "*", which
// matches any value.
func matchesAny(list []any, v any, normalize func(any) (any, error)) bool {
	for _, pv := range list {
		if normalize != nil {
			n, err := normalize(pv)
			if err != nil {
				if pv == "*" {
					return true
				}
				continue
			}
			pv = n
		}
		if valueEqual(pv, v) {
			return true
		}
	}
	return false
}

// valueEqual compares a policy value with a request element: strings by
// glob, numbers by value whatever their Go type (a JSON body's json.Number
// included), durations and booleans exactly, anything else deeply. The
// string "*" matches any value.
func valueEqual(pv, v any) bool {
	switch p := pv.(type) {
	case nil:
		return v == nil
	case string:
		if s, ok := v.(string); ok {
			return globMatch(p, s)
		}
		return p == "*"
	case bool:
		b, ok := v.(bool)
		return ok && b == p
	case time.Duration:
		d, ok := v.(time.Duration)
		return ok && d == p
	}
	if pn, ok := asNumber(pv); ok {
		n, ok := asNumber(v)
		return ok && pn.equal(n)
	}
	return reflect.DeepEqual(pv, v)
}

// number is an integer held exactly, or a float.
type number struct {
	i     int64
	f     float64
	isInt bool
}

func (a number) equal(b number) bool {
	if a.isInt && b.isInt {
		return a.i == b.i
	}
	return a.float() == b.float()
}

func (a number) float() float64 {
	if a.isInt {
		return float64(a.i)
	}
	return a.f
}

// asNumber reads the numeric types policies and bodies produce: int64 and
// float64 from HCL, json.Number from a JSON body, int from a typed field.
func asNumber(v any) (number, bool) {
	switch n := v.(type) {
	case int:
		return number{i: int64(n), isInt: true}, true
	case int64:
		return number{i: n, isInt: true}, true
	case float64:
		return number{f: n}, true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return number{i: i, isInt: true}, true
		}
		if f, err := n.Float64(); err == nil {
			return number{f: f}, true
		}
	}
	return number{}, false
}

// globMatch supports "*", "prefix*", "*suffix" and "*middle*".
func globMatch(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	lead := strings.HasPrefix(pattern, "*")
	trail := strings.HasSuffix(pattern, "*")
	switch {
	case lead && trail:
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case lead:
		return strings.HasSuffix(s, pattern[1:])
	case trail:
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return pattern == s
}
