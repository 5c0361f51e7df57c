package kubernetes

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// glob reports whether s matches pattern, where "*" matches any run of
// characters (including none) and everything else matches itself.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
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
	return strings.HasSuffix(s, last)
}

// anyGlob reports whether one of patterns matches s.
func anyGlob(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return glob(p, s) })
}

// selector is a Kubernetes label selector (metav1.LabelSelector in JSON):
// every matchLabels pair and every matchExpressions requirement must hold.
type selector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []requirement     `json:"matchExpressions,omitempty"`
}

type requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// parseSelector reads a label selector written as JSON, refusing unknown
// fields, operators Kubernetes does not have and requirements Kubernetes
// would refuse (values with Exists, none with In).
func parseSelector(text string) (*selector, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var s selector
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("not a label selector in JSON (matchLabels, matchExpressions): %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("text after the label selector")
	}
	for i, r := range s.MatchExpressions {
		if r.Key == "" {
			return nil, fmt.Errorf("matchExpressions[%d] has no key", i)
		}
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) == 0 {
				return nil, fmt.Errorf("matchExpressions[%d]: operator %s needs values", i, r.Operator)
			}
		case "Exists", "DoesNotExist":
			if len(r.Values) > 0 {
				return nil, fmt.Errorf("matchExpressions[%d]: operator %s takes no values", i, r.Operator)
			}
		default:
			return nil, fmt.Errorf("matchExpressions[%d]: unknown operator %q (In, NotIn, Exists, DoesNotExist)", i, r.Operator)
		}
	}
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return nil, fmt.Errorf("the label selector is empty, which would match every namespace: use bound_service_account_namespaces=* for that")
	}
	return &s, nil
}

// matches reports whether labels satisfy s.
func (s *selector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case "In":
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}
