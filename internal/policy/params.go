package policy

import (
	"reflect"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// checkParameters applies required, denied and allowed parameters to the
// request data, for the operations that carry parameters Vault checks.
func (pm *perms) checkParameters(op logical.Operation, data map[string]any) bool {
	switch op {
	case logical.ReadOperation, logical.CreateOperation, logical.UpdateOperation, logical.PatchOperation:
	default:
		return true
	}
	for _, req := range pm.required {
		if !hasParam(data, req) {
			return false
		}
	}
	if len(data) == 0 {
		return true
	}
	if len(pm.denied) > 0 {
		if _, all := pm.denied["*"]; all {
			return false
		}
		for k, v := range data {
			if list, ok := pm.denied[strings.ToLower(k)]; ok && valueInList(v, list) {
				return false
			}
		}
	}
	if len(pm.allowed) == 0 {
		return true
	}
	_, allowAll := pm.allowed["*"]
	for k, v := range data {
		list, ok := pm.allowed[strings.ToLower(k)]
		if !ok && !allowAll {
			return false
		}
		if ok && !valueInList(v, list) {
			return false
		}
	}
	return true
}

func hasParam(data map[string]any, name string) bool {
	for k := range data {
		if strings.ToLower(k) == name {
			return true
		}
	}
	return false
}

// valueInList reports whether v is one of list; an empty list contains
// every value. String entries may glob with a leading or trailing "*".
func valueInList(v any, list []any) bool {
	if len(list) == 0 {
		return true
	}
	for _, el := range list {
		if valueEqual(el, v) {
			return true
		}
	}
	return false
}

func valueEqual(policyValue, v any) bool {
	if ps, ok := policyValue.(string); ok {
		if s, ok := v.(string); ok {
			return globMatch(ps, s)
		}
	}
	if pn, ok := asFloat(policyValue); ok {
		if n, ok := asFloat(v); ok {
			return pn == n
		}
	}
	return reflect.DeepEqual(policyValue, v)
}

// asFloat lets 3 in a policy equal 3 decoded from a JSON body (float64).
func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
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
