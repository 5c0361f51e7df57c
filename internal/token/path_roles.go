package token

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// pathSuffixSegment is what each "/"-separated part of a role's path_suffix
// must be: Vault's pattern, anchored.
var pathSuffixSegment = regexp.MustCompile(`^\w[\w.-]+\w$`)

// roleTokenLegacy are the older names a token role accepts for its token
// fields, as Vault's token store does.
var roleTokenLegacy = map[string][]string{
	"token_period":           {"period"},
	"token_explicit_max_ttl": {"explicit_max_ttl"},
	"token_bound_cidrs":      {"bound_cidrs"},
}

func roleFields() map[string]*framework.FieldSchema {
	// A role takes the token fields Vault's token roles take; policies
	// come from its own lists and the TTL from the create request.
	f := tokenutil.FieldsWithLegacy(roleTokenLegacy)
	delete(f, "token_policies")
	delete(f, "token_ttl")
	delete(f, "token_max_ttl")
	f["token_type"].Description = "service, batch, default-service (the default) or default-batch."
	lists := "Comma-separated string or JSON list of policy names"
	for name, schema := range map[string]*framework.FieldSchema{
		"role_name":                {Type: framework.TypeString, Description: "Name of the role."},
		"allowed_policies":         {Type: framework.TypeLowerStrings, Description: lists + " tokens of the role may carry, instead of a subset of the caller's."},
		"disallowed_policies":      {Type: framework.TypeLowerStrings, Description: lists + " tokens of the role may never carry."},
		"allowed_policies_glob":    {Type: framework.TypeLowerStrings, Description: "Like allowed_policies, with * matching any run of characters."},
		"disallowed_policies_glob": {Type: framework.TypeLowerStrings, Description: "Like disallowed_policies, with * matching any run of characters."},
		"orphan":                   {Type: framework.TypeBool, Description: "Tokens of the role have no parent."},
		"renewable":                {Type: framework.TypeBool, Default: true, Description: "Tokens of the role may be renewed."},
		"path_suffix":              {Type: framework.TypeString, Description: "Appended to the tokens' path, so they can be told apart (and revoked) by revision."},
		"allowed_entity_aliases":   {Type: framework.TypeStringSlice, Description: "Not supported yet (tokens get entities from logins and inherit them); must be empty."},
	} {
		f[name] = schema
	}
	return f
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
		"token_period":             int64(r.Token.Period / time.Second),
		"token_explicit_max_ttl":   int64(r.Token.ExplicitMaxTTL / time.Second),
		"token_type":               r.tokenTypeName(),
		"token_no_default_policy":  r.Token.NoDefaultPolicy,
		// Vault always shows the older duration names: the value when it
		// was written under them, else 0.
		"period":           int64(0),
		"explicit_max_ttl": int64(0),
	}
	for name, olds := range roleTokenLegacy {
		if r.Token.Legacy[name] == olds[0] {
			data[olds[0]] = data[name]
		}
	}
	if len(r.Token.BoundCIDRs) > 0 {
		data["token_bound_cidrs"] = r.Token.BoundCIDRs
		if r.Token.Legacy["token_bound_cidrs"] == "bound_cidrs" {
			data["bound_cidrs"] = r.Token.BoundCIDRs
		}
	}
	if r.Token.NumUses > 0 {
		data["token_num_uses"] = r.Token.NumUses
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
		return nil, logical.InvalidRequest("allowed_entity_aliases is not supported yet: tokens get their entity from a login or from their parent")
	}
	name := d.String("role_name")
	s.roleMu.Lock()
	defer s.roleMu.Unlock()
	r, err := s.Role(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &Role{Name: name, Renewable: true}
	}
	if err := applyRoleFields(r, d); err != nil {
		return nil, err
	}
	if t, ok := d.GetOk("token_type"); ok && t == tokenutil.TypeDefault {
		// Vault's token roles, unlike auth methods, do not take "default".
		return nil, logical.InvalidRequest("invalid 'token_type' value %q: use service, batch, default-service or default-batch", t)
	}
	if err := r.Token.Parse(d); err != nil {
		return nil, err
	}
	var warnings []string
	if r.Token.ExplicitMaxTTL > s.maxTTL() {
		warnings = append(warnings, fmt.Sprintf("Given explicit max TTL of %d is greater than system/mount allowed value of %d seconds; tokens of this role are capped at the latter",
			int64(r.Token.ExplicitMaxTTL/time.Second), int64(s.maxTTL()/time.Second)))
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
