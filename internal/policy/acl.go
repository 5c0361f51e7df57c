package policy

import (
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Result is the answer to one authorization question.
type Result struct {
	// Allowed is true when the operation may proceed.
	Allowed bool
	// Sudo is true when the deciding rule grants the sudo capability (root
	// always has it). Callers require it on sudo-protected paths.
	Sudo bool
	// IsRoot is true when the ACL contains the root policy.
	IsRoot bool
	// MinWrappingTTL and MaxWrappingTTL are the deciding rule's bounds on
	// response wrapping (zero: none); WrapTTLAllowed applies them.
	MinWrappingTTL, MaxWrappingTTL time.Duration
}

// WrapTTLAllowed reports whether a request asking for response wrapping
// of ttl (zero: none) meets the deciding rule's bounds, as Vault checks
// them: a maximum requires wrapping no longer than it, a minimum wrapping
// at least that long, and bounds merged from several policies that
// contradict each other allow nothing.
func (r Result) WrapTTLAllowed(ttl time.Duration) bool {
	switch {
	case r.MaxWrappingTTL > 0 && (ttl == 0 || ttl > r.MaxWrappingTTL):
		return false
	case r.MinWrappingTTL > 0 && ttl < r.MinWrappingTTL:
		return false
	case r.MinWrappingTTL > 0 && r.MaxWrappingTTL > 0 && r.MaxWrappingTTL < r.MinWrappingTTL:
		return false
	}
	return true
}

// ACL is a compiled set of policies. It is immutable after NewACL and safe
// for concurrent use. Lookups allocate nothing on the common paths.
type ACL struct {
	root bool
	// exact holds rules without wildcards, by path.
	exact map[string]*perms
	// prefix holds rules ending in "*" without "+" segments, keyed by the
	// prefix (without the "*"); prefixLens lists their distinct lengths,
	// longest first, so the longest matching prefix is the first hit.
	prefix     map[string]*perms
	prefixLens []int
	// wildcards holds rules with "+" segments, highest priority first.
	wildcards []*wildcardRule
}

// perms is the merged permission of every policy's rule on one pattern.
type perms struct {
	caps     capSet
	allowed  map[string][]any
	denied   map[string][]any
	required []string
	// minWrap and maxWrap are the wrapping TTL bounds; merged rules keep
	// the lesser of each, as Vault does.
	minWrap, maxWrap time.Duration
}

// NewACL compiles policies into an ACL. Nil policies are skipped. If any
// policy is Root(), the ACL allows everything. Rules on the same pattern
// from several policies are merged: capabilities add up, and a deny in any
// of them leaves only deny. Templated rules of a policy that was not
// resolved (Policy.Resolve) match nothing: they are left out, never taken
// literally.
func NewACL(policies ...*Policy) *ACL {
	a := &ACL{exact: map[string]*perms{}, prefix: map[string]*perms{}}
	wild := map[string]*perms{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		if p.root {
			a.root = true
		}
		for i := range p.Paths {
			r := &p.Paths[i]
			if r.templated {
				continue
			}
			pattern, isPrefix := strings.CutSuffix(r.Pattern, "*")
			switch {
			case hasSegmentWildcard(pattern):
				mergeInto(wild, r.Pattern, r)
			case isPrefix:
				mergeInto(a.prefix, pattern, r)
			default:
				mergeInto(a.exact, r.Pattern, r)
			}
		}
	}
	for k := range a.prefix {
		if !slices.Contains(a.prefixLens, len(k)) {
			a.prefixLens = append(a.prefixLens, len(k))
		}
	}
	slices.Sort(a.prefixLens)
	slices.Reverse(a.prefixLens)
	for pattern, pm := range wild {
		a.wildcards = append(a.wildcards, newWildcardRule(pattern, pm))
	}
	slices.SortFunc(a.wildcards, func(x, y *wildcardRule) int { return -x.descr.compare(y.descr) })
	return a
}

// mergeInto adds rule r to the permission stored under key.
func mergeInto(m map[string]*perms, key string, r *PathRule) {
	pm, ok := m[key]
	if !ok {
		pm = &perms{}
		m[key] = pm
	}
	pm.caps = (pm.caps | r.caps).normalize()
	if pm.caps&capDeny != 0 {
		// Nothing else matters under a deny; drop the parameter rules so
		// that they cannot be mistaken for grants.
		pm.allowed, pm.denied, pm.required = nil, nil, nil
		return
	}
	pm.minWrap = lesserSet(pm.minWrap, r.MinWrappingTTL)
	pm.maxWrap = lesserSet(pm.maxWrap, r.MaxWrappingTTL)
	pm.allowed = mergeParams(pm.allowed, r.AllowedParameters)
	pm.denied = mergeParams(pm.denied, r.DeniedParameters)
	for _, req := range r.RequiredParameters {
		if !slices.Contains(pm.required, req) {
			pm.required = append(pm.required, req)
		}
	}
}

// lesserSet is the lesser of two bounds, zero meaning unset.
func lesserSet(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// mergeParams unions parameter maps; an empty value list (any value) on
// either side wins over specific values.
func mergeParams(dst, src map[string][]any) map[string][]any {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string][]any, len(src))
	}
	for k, v := range src {
		old, ok := dst[k]
		switch {
		case !ok:
			dst[k] = slices.Clone(v)
		case len(old) == 0 || len(v) == 0:
			dst[k] = []any{}
		default:
			dst[k] = append(old, v...)
		}
	}
	return dst
}

// lookup finds the permission that decides for path, or nil when no rule
// matches. list enables Vault's list fallbacks: a rule on "foo" also
// governs "foo/", and globs are tried against the path without its trailing
// slash when none matches the path itself. Neither fallback may override a
// deny that matches the full path: otherwise "secret/metadata/*" would let
// a LIST of "secret/metadata/private/" past a deny on
// "secret/metadata/private/*".
func (a *ACL) lookup(path string, list bool) *perms {
	path = strings.TrimLeft(path, "/")
	if pm, ok := a.exact[path]; ok {
		return pm
	}
	full := a.nonExact(path)
	if !list {
		return full
	}
	trimmed := strings.TrimSuffix(path, "/")
	if full != nil && full.caps&capDeny != 0 {
		return full
	}
	if pm, ok := a.exact[trimmed]; ok {
		return pm
	}
	if full == nil && trimmed != path {
		return a.nonExact(trimmed)
	}
	return full
}

// nonExact picks the highest-priority glob or "+" rule matching path.
func (a *ACL) nonExact(path string) *perms {
	var best *perms
	var bestDescr patternDescr
	for _, n := range a.prefixLens {
		if n > len(path) {
			continue
		}
		if pm, ok := a.prefix[path[:n]]; ok {
			best = pm
			bestDescr = patternDescr{firstWildcard: n, isPrefix: true, path: path[:n]}
			break
		}
	}
	for _, w := range a.wildcards {
		if !w.match(path) {
			continue
		}
		// wildcards is sorted by priority, so the first match is the best
		// of them; it only has to beat the prefix candidate.
		if best == nil || w.descr.compare(bestDescr) > 0 {
			return w.perms
		}
		break
	}
	return best
}

// Capabilities returns the sorted capability names that ACL grants on path:
// ["root"] for root, ["deny"] when nothing matches or the deciding rule
// denies. The returned slice is fresh and the caller may keep it.
func (a *ACL) Capabilities(path string) []string {
	if a.root {
		return []string{RootCapability}
	}
	pm := a.lookup(path, true)
	if pm == nil || pm.caps == 0 || pm.caps&capDeny != 0 {
		return []string{DenyCapability}
	}
	return pm.caps.names()
}

// Allowed decides whether op may run on path with no request parameters,
// so a rule with required_parameters denies; use AllowedParams to check a
// request that carries parameters.
func (a *ACL) Allowed(op logical.Operation, path string) Result {
	res, _ := a.AllowedParams(op, path, nil)
	return res
}

// AllowedData is AllowedParams with data described raw (logical.RawParams):
// for callers with no route to ask how the handler parses its input. Each
// element of an array is checked; nothing else is converted.
func (a *ACL) AllowedData(op logical.Operation, path string, data map[string]any) Result {
	res, _ := a.AllowedParams(op, path, func() ([]logical.Param, error) { return logical.RawParams(data), nil })
	return res
}

// AllowedParams decides whether op may run on path, enforcing
// allowed_parameters, denied_parameters and required_parameters on read,
// create, update and patch as Vault does, against the parameters params
// supplies: the values the handler will use, element by element. params is
// called only when the deciding rule has parameter rules (nil means none
// were sent), so the common path allocates nothing; its error is returned
// with a Result that does not allow. Sudo reports the sudo capability of
// the deciding rule even when the operation itself is denied.
func (a *ACL) AllowedParams(op logical.Operation, path string, params ParamFunc) (Result, error) {
	if a.root {
		return Result{Allowed: true, Sudo: true, IsRoot: true}, nil
	}
	pm := a.lookup(path, op == logical.ListOperation)
	if pm == nil {
		return Result{}, nil
	}
	res := Result{Sudo: pm.caps&capSudo != 0, MinWrappingTTL: pm.minWrap, MaxWrappingTTL: pm.maxWrap}
	need := opBit(op)
	if need == 0 || pm.caps&need == 0 {
		return res, nil
	}
	if !paramOp(op) || !pm.hasParamRules() {
		res.Allowed = true
		return res, nil
	}
	var ps []logical.Param
	if params != nil {
		var err error
		if ps, err = params(); err != nil {
			return res, err
		}
	}
	res.Allowed = pm.checkParams(ps)
	return res, nil
}
