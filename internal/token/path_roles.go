package token

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// pathSuffixSegment is what each "/"-separated part of a role's path_suffix
// must be: Vault's pattern, anchored.
var pathSuffixSegment = regexp.MustCompile(`^\w[\w.-]+\w$`)

func roleFields() map[string]*framework.FieldSchema {
	lists := "Comma-separated string or JSON list of policy names"
	return map[string]*framework.FieldSchema{
		"role_name":                {Type: framework.TypeString, Description: "Name of the role."},
		"allowed_policies":         {Type: framework.TypeLowerStrings, Description: lists + " tokens of the role may carry, instead of a subset of the caller's."},
		"disallowed_policies":      {Type: framework.TypeLowerStrings, Description: lists + " tokens of the role may never carry."},
		"allowed_policies_glob":    {Type: framework.TypeLowerStrings, Description: "Like allowed_policies, with * matching any run of characters."},
		"disallowed_policies_glob": {Type: framework.TypeLowerStrings, Description: "Like disallowed_policies, with * matching any run of characters."},
		"orphan":                   {Type: framework.TypeBool, Description: "Tokens of the role have no parent."},
		"renewable":                {Type: framework.TypeBool, Default: true, Description: "Tokens of the role may be renewed."},
		"path_suffix":              {Type: framework.TypeString, Description: "Appended to the tokens' path, so they can be told apart (and revoked) by revision."},
		"allowed_entity_aliases":   {Type: framework.TypeStringSlice, Description: "Not supported (Coffer has no identity store); must be empty."},
		"period":                   {Type: framework.TypeDurationSecond, Description: "Deprecated name of token_period."},
		"explicit_max_ttl":         {Type: framework.TypeDurationSecond, Description: "Deprecated name of token_explicit_max_ttl."},
		"bound_cidrs":              {Type: framework.TypeStringSlice, Description: "Deprecated name of token_bound_cidrs."},
		"token_period":             {Type: framework.TypeDurationSecond, Description: "Makes the tokens periodic, with no sudo needed."},
		"token_explicit_max_ttl":   {Type: framework.TypeDurationSecond, Description: "Hard cap on the tokens' life, renewals included."},
		"token_bound_cidrs":        {Type: framework.TypeStringSlice, Description: "Addresses or CIDR blocks the tokens may be used from."},
		"token_type":               {Type: framework.TypeString, Description: "service, batch, default-service (the default) or default-batch."},
		"token_no_default_policy":  {Type: framework.TypeBool, Description: "Leave the default policy off the tokens."},
		"token_num_uses":           {Type: framework.TypeInt, Description: "Uses each token has; 0 is unlimited."},
	}
}

func (s *Store) rolePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "roles" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: s.handleRoleList},
			Help:       "List the token roles.",
		},
		{
			Pattern: "roles/" + framework.GenericNameRegex("role_name"),
			Fields:  roleFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleRoleRead,
				logical.CreateOperation: s.handleRoleWrite,
				logical.UpdateOperation: s.handleRoleWrite,
				logical.DeleteOperation: s.handleRoleDelete,
			},
			ExistenceCheck: s.roleExists,
			Help:           "Create, read, update or delete a token role.",
		},
	}
}

func (s *Store) roleExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := s.Role(ctx, d.String("role_name"))
	return r != nil, err
}

// handleRoleList answers (nil, nil), a 404 as in Vault, when there are no
// roles.
func (s *Store) handleRoleList(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := s.storage.List(ctx, rolePrefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}

func (s *Store) handleRoleDelete(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	return nil, s.storage.Delete(ctx, rolePrefix+d.String("role_name"))
}

func (s *Store) handleRoleRead(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := s.Role(ctx, d.String("role_name"))
	if err != nil || r == nil {
		return nil, err
	}
	data := map[string]any{
		"name":                     r.Name,
		"allowed_policies":         nonNil(r.AllowedPolicies),
		"disallowed_policies":      nonNil(r.DisallowedPolicies),
		"allowed_policies_glob":    nonNil(r.AllowedPoliciesGlob),
		"disallowed_policies_glob": nonNil(r.DisallowedPoliciesGlob),
		"allowed_entity_aliases":   nil,
		"orphan":                   r.Orphan,
		"renewable":                r.Renewable,
		"path_suffix":              r.PathSuffix,
		"period":                   int64(r.Period / time.Second),
		"token_period":             int64(r.TokenPeriod / time.Second),
		"explicit_max_ttl":         int64(r.ExplicitMaxTTL / time.Second),
		"token_explicit_max_ttl":   int64(r.TokenExplicitMaxTTL / time.Second),
		"token_type":               r.TokenType,
		"token_no_default_policy":  r.TokenNoDefaultPolicy,
	}
	if len(r.TokenBoundCIDRs) > 0 {
		data["token_bound_cidrs"] = r.TokenBoundCIDRs
	}
	if len(r.BoundCIDRs) > 0 {
		data["bound_cidrs"] = r.BoundCIDRs
	}
	if r.TokenNumUses > 0 {
		data["token_num_uses"] = r.TokenNumUses
	}
	return logical.DataResponse(data), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// handleRoleWrite creates a role (unset fields take their defaults) or
// changes the fields the request sets on an existing one. Nothing is
// stored unless the whole request is valid.
func (s *Store) handleRoleWrite(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if len(d.Strings("allowed_entity_aliases")) > 0 {
		return nil, logical.InvalidRequest("allowed_entity_aliases is not supported: Coffer has no identity store")
	}
	name := d.String("role_name")
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	r, err := s.Role(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &Role{Name: name, Renewable: true, TokenType: RoleTypeDefaultService}
	}
	if err := applyRoleFields(r, d); err != nil {
		return nil, err
	}
	warnings, err := applyRoleTokenFields(r, d)
	if err != nil {
		return nil, err
	}
	if r.TokenExplicitMaxTTL > s.maxTTL() {
		warnings = append(warnings, fmt.Sprintf("Given explicit max TTL of %d is greater than system/mount allowed value of %d seconds; tokens of this role are capped at the latter",
			int64(r.TokenExplicitMaxTTL/time.Second), int64(s.maxTTL()/time.Second)))
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if err := s.putRole(ctx, r); err != nil {
		return nil, err
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

// applyRoleFields sets the role's own fields present in the request.
func applyRoleFields(r *Role, d *framework.FieldData) error {
	lists := map[string]*[]string{
		"allowed_policies": &r.AllowedPolicies, "disallowed_policies": &r.DisallowedPolicies,
		"allowed_policies_glob": &r.AllowedPoliciesGlob, "disallowed_policies_glob": &r.DisallowedPoliciesGlob,
	}
	for field, dst := range lists {
		if v, ok := d.GetOk(field); ok {
			*dst = normalizePolicies(v.([]string), false)
		}
	}
	if v, ok := d.GetOk("orphan"); ok {
		r.Orphan = v.(bool)
	}
	if v, ok := d.GetOk("renewable"); ok {
		r.Renewable = v.(bool)
	}
	if v, ok := d.GetOk("path_suffix"); ok {
		suffix := v.(string)
		if err := checkPathSuffix(suffix); err != nil {
			return err
		}
		r.PathSuffix = suffix
	}
	return nil
}

// checkPathSuffix accepts "" or "/"-separated segments of Vault's pattern;
// never "..", so a suffix cannot climb out of the role's path.
func checkPathSuffix(suffix string) error {
	if suffix == "" {
		return nil
	}
	for _, seg := range strings.Split(suffix, "/") {
		if !pathSuffixSegment.MatchString(seg) || strings.Contains(seg, "..") {
			return logical.InvalidRequest("given role path suffix contains invalid characters; each \"/\"-separated part must match %s and contain no \"..\"", pathSuffixSegment.String())
		}
	}
	return nil
}

// applyRoleTokenFields sets the token_* fields and their legacy names
// present in the request. When both names of one setting are sent the
// token_ one wins, with Vault's warning; a value written under the legacy
// name is also kept under it, to be read back.
func applyRoleTokenFields(r *Role, d *framework.FieldData) ([]string, error) {
	var warnings []string
	both := func(cur, legacy string) {
		warnings = append(warnings, fmt.Sprintf("Both '%s' and deprecated '%s' value supplied, ignoring the deprecated value", cur, legacy))
	}
	durations := []struct {
		cur, legacy       string
		curVal, legacyVal *time.Duration
	}{
		{"token_period", "period", &r.TokenPeriod, &r.Period},
		{"token_explicit_max_ttl", "explicit_max_ttl", &r.TokenExplicitMaxTTL, &r.ExplicitMaxTTL},
	}
	for _, f := range durations {
		v, okCur := d.GetOk(f.cur)
		old, okLegacy := d.GetOk(f.legacy)
		switch {
		case okCur:
			*f.curVal, *f.legacyVal = v.(time.Duration), 0
			if okLegacy {
				both(f.cur, f.legacy)
			}
		case okLegacy:
			*f.curVal, *f.legacyVal = old.(time.Duration), old.(time.Duration)
		}
	}
	if err := applyRoleCIDRs(r, d, both); err != nil {
		return nil, err
	}
	if v, ok := d.GetOk("token_type"); ok {
		switch t := v.(string); t {
		case TypeService, TypeBatch, RoleTypeDefaultService, RoleTypeDefaultBatch:
			r.TokenType = t
		default:
			return nil, logical.InvalidRequest("invalid 'token_type' value %q", t)
		}
	}
	if v, ok := d.GetOk("token_no_default_policy"); ok {
		r.TokenNoDefaultPolicy = v.(bool)
	}
	if v, ok := d.GetOk("token_num_uses"); ok {
		if v.(int) < 0 {
			return nil, logical.InvalidRequest("'token_num_uses' cannot be negative")
		}
		r.TokenNumUses = v.(int)
	}
	return warnings, nil
}

func applyRoleCIDRs(r *Role, d *framework.FieldData, both func(cur, legacy string)) error {
	v, okCur := d.GetOk("token_bound_cidrs")
	old, okLegacy := d.GetOk("bound_cidrs")
	switch {
	case okCur:
		cidrs, err := parseCIDRs("token_bound_cidrs", v.([]string))
		if err != nil {
			return err
		}
		r.TokenBoundCIDRs, r.BoundCIDRs = cidrs, nil
		if okLegacy {
			both("token_bound_cidrs", "bound_cidrs")
		}
	case okLegacy:
		cidrs, err := parseCIDRs("bound_cidrs", old.([]string))
		if err != nil {
			return err
		}
		r.TokenBoundCIDRs, r.BoundCIDRs = cidrs, cidrs
	}
	return nil
}

// parseCIDRs validates CIDR blocks or single addresses and returns them as
// CIDR blocks; empty entries are dropped.
func parseCIDRs(field string, in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, logical.InvalidRequest("%s: %q is neither an IP address nor a CIDR block", field, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}
