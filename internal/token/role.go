package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// rolePrefix holds one JSON Role per name in the store's view.
const rolePrefix = "role/"

// The token types a role may name besides TypeService and TypeBatch: the
// "default-" ones let the create request choose, falling back to the named
// type. A role that names none is default-service.
const (
	RoleTypeDefaultService = tokenutil.TypeDefaultService
	RoleTypeDefaultBatch   = tokenutil.TypeDefaultBatch
)

// Role is a token role: what tokens created through
// auth/token/create/<name> may and must be. Roles let an operator hand out
// tokens that the caller could not create alone (other policies than its
// own, orphans, periodic tokens) and pin down what the caller may choose.
type Role struct {
	Name string `json:"name"`
	// AllowedPolicies and AllowedPoliciesGlob, when either is set, replace
	// the rule that a child's policies are a subset of the parent's: the
	// requested policies must each be listed or match a glob; with none
	// requested the token gets AllowedPolicies.
	AllowedPolicies     []string `json:"allowed_policies"`
	AllowedPoliciesGlob []string `json:"allowed_policies_glob"`
	// DisallowedPolicies and DisallowedPoliciesGlob refuse any token that
	// would carry a listed or matching policy.
	DisallowedPolicies     []string `json:"disallowed_policies"`
	DisallowedPoliciesGlob []string `json:"disallowed_policies_glob"`
	// Orphan makes every token of the role an orphan, whoever asks.
	Orphan bool `json:"orphan"`
	// Renewable false makes the role's tokens non-renewable.
	Renewable bool `json:"renewable"`
	// PathSuffix is appended to the tokens' path, after the role name.
	PathSuffix string `json:"path_suffix"`
	// Token holds the role's token_* settings: token_period,
	// token_explicit_max_ttl, token_bound_cidrs, token_type ("" means
	// default-service), token_no_default_policy and token_num_uses, with
	// the older names period, explicit_max_ttl and bound_cidrs. Its
	// policies and TTLs are not used: a role has its own policy lists, and
	// the create request gives the TTL.
	Token tokenutil.Params `json:"token"`
}

// Role returns the named role, or nil, nil when there is none.
func (s *Store) Role(ctx context.Context, name string) (*Role, error) {
	var r Role
	ok, err := logical.GetJSON(ctx, s.storage, rolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func (s *Store) putRole(ctx context.Context, r *Role) error {
	if err := logical.PutJSON(ctx, s.storage, rolePrefix+r.Name, r); err != nil {
		return fmt.Errorf("store token role: %w", err)
	}
	return nil
}

// validate refuses roles that could only produce broken tokens, with
// Vault's messages (tokenutil has already refused a batch or default-batch
// role with a period or a use limit).
func (r *Role) validate() error {
	if r.Token.Type != TypeBatch {
		return nil
	}
	switch {
	case !r.Orphan:
		return logical.InvalidRequest("'token_type' cannot be 'batch' when role is set to generate non-orphan tokens")
	case r.Renewable:
		return logical.InvalidRequest("'token_type' cannot be 'batch' when role is set to generate renewable tokens")
	case r.Token.ExplicitMaxTTL != 0:
		return logical.InvalidRequest("'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL")
	}
	return nil
}

// tokenTypeName is the role's token_type as Vault reports it.
func (r *Role) tokenTypeName() string {
	switch r.Token.Type {
	case "", tokenutil.TypeDefault:
		return RoleTypeDefaultService
	}
	return r.Token.Type
}

// tokenType is the type of a token created against r when the request
// asked for requested ("" for none).
func (r *Role) tokenType(requested string) string {
	switch r.Token.Type {
	case TypeService, TypeBatch:
		return r.Token.Type
	case RoleTypeDefaultBatch:
		if requested == "" {
			return TypeBatch
		}
	}
	return requested
}

// hasPolicyRules reports whether r replaces the parent-subset rule.
func (r *Role) hasPolicyRules() bool {
	return len(r.AllowedPolicies) > 0 || len(r.AllowedPoliciesGlob) > 0 ||
		len(r.DisallowedPolicies) > 0 || len(r.DisallowedPoliciesGlob) > 0
}

// apply shapes req, already checked against the parent's own limits, by
// the role's rules, as Vault does: policies from the role's lists (or the
// parent's rules when it has none), orphan without sudo, the role's bound
// CIDRs, the lesser of the requested and the role's period, explicit max
// TTL and use count, and renewability only if both allow it. It returns
// the warnings Vault gives when a request and the role both set a limit.
func (r *Role) apply(parent *Entry, req *CreateRequest) ([]string, error) {
	req.roleName = r.Name
	req.NoDefaultPolicy = req.NoDefaultPolicy || r.Token.NoDefaultPolicy
	if r.hasPolicyRules() {
		final, err := r.policies(parent.Policies, req.Policies, req.NoDefaultPolicy)
		if err != nil {
			return nil, err
		}
		req.Policies, req.NoDefaultPolicy = final, true
	} else if err := inheritPolicies(parent, req); err != nil {
		return nil, err
	}
	if slices.Contains(normalizePolicies(req.Policies, false), "root") && !parent.IsRoot() {
		return nil, ErrRootFromNonRoot
	}
	req.NoParent = r.Orphan
	if len(r.Token.BoundCIDRs) > 0 {
		req.BoundCIDRs = slices.Clone(r.Token.BoundCIDRs)
	}
	if !r.Renewable {
		no := false
		req.Renewable = &no
	}
	if req.Type == TypeBatch {
		// A batch token carries no explicit max TTL, but the role's still
		// caps its life; uses and periods do not apply.
		lesser(&req.ExplicitMaxTTL, r.Token.ExplicitMaxTTL)
		return nil, nil
	}
	if n := r.Token.NumUses; n > 0 && (req.NumUses == 0 || n < req.NumUses) {
		req.NumUses = n
	}
	var warnings []string
	if w := lesser(&req.ExplicitMaxTTL, r.Token.ExplicitMaxTTL); w {
		warnings = append(warnings, fmt.Sprintf("Explicit max TTL specified both during creation call and in role; using the lesser value of %d seconds", int64(req.ExplicitMaxTTL/time.Second)))
	}
	if w := lesser(&req.Period, r.Token.Period); w {
		warnings = append(warnings, fmt.Sprintf("Period specified both during creation call and in role; using the lesser value of %d seconds", int64(req.Period/time.Second)))
	}
	return warnings, nil
}

// lesser sets *req to role when only the role sets a limit, and to the
// smaller of the two when both do, reporting the latter case.
func lesser(req *time.Duration, role time.Duration) bool {
	switch {
	case role == 0:
		return false
	case *req == 0:
		*req = role
		return false
	}
	*req = min(*req, role)
	return true
}

// policies is Vault's rule for a role with policy lists: the requested
// policies (or, without any, the allowed list, or the parent's when only
// disallowed lists are set), plus "default" unless the request, the role
// or a disallowed entry rules it out; every one must be allowed (when
// allowed lists exist) and none disallowed.
func (r *Role) policies(parentPolicies, requested []string, noDefault bool) ([]string, error) {
	addDefault := !noDefault && !slices.Contains(r.DisallowedPolicies, "default") && !globAny(r.DisallowedPoliciesGlob, "default")
	var final []string
	if len(requested) > 0 {
		final = normalizePolicies(requested, addDefault)
	}
	if len(r.AllowedPolicies) > 0 || len(r.AllowedPoliciesGlob) > 0 {
		allowed := normalizePolicies(r.AllowedPolicies, addDefault)
		if len(final) == 0 {
			final = allowed
		}
		for _, p := range final {
			if !slices.Contains(allowed, p) && !globAny(r.AllowedPoliciesGlob, p) {
				return nil, logical.InvalidRequest("token policies (%q) must be subset of the role's allowed policies (%q) or glob policies (%q)", final, allowed, r.AllowedPoliciesGlob)
			}
		}
	} else if len(final) == 0 {
		final = normalizePolicies(parentPolicies, addDefault)
	}
	for _, p := range final {
		if slices.Contains(r.DisallowedPolicies, p) || globAny(r.DisallowedPoliciesGlob, p) {
			return nil, logical.InvalidRequest("token policy %q is disallowed by this role", p)
		}
	}
	if noDefault {
		final = slices.DeleteFunc(final, func(p string) bool { return p == "default" })
	}
	return final, nil
}

// globAny reports whether s matches one of the patterns, in which "*"
// stands for any run of characters.
func globAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
