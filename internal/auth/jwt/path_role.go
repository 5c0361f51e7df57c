package jwt

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

func roleFields() map[string]*framework.FieldSchema {
	leeway := func(what string, def int) *framework.FieldSchema {
		return &framework.FieldSchema{Type: framework.TypeSignedDurationSecond, Description: fmt.Sprintf(
			"Leeway %s, in seconds or as a duration; 0 means %d seconds, -1 none.", what, def)}
	}
	f := map[string]*framework.FieldSchema{
		"name":      {Type: framework.TypeString, Description: "Name of the role (lower case)."},
		"role_type": {Type: framework.TypeString, Description: `Type of the role; only "jwt" is served.`},
		"bound_audiences": {Type: framework.TypeStringSlice,
			Description: "'aud' values accepted; a token must carry one of them. Required when tokens carry an audience."},
		"bound_subject": {Type: framework.TypeString, Description: "The 'sub' claim a token must have; any when empty."},
		"bound_claims_type": {Type: framework.TypeString, Default: boundClaimsString,
			Description: `How bound_claims values match: "string" (exactly) or "glob" (* matches any run of characters).`},
		"bound_claims": {Type: framework.TypeMap,
			Description: `Claims (names or JSON pointers such as "/kubernetes.io/namespace") and the values, or lists of values, one of which each must have.`},
		"claim_mappings": {Type: framework.TypeKVPairs,
			Description: "Claims (names or JSON pointers) copied into the token's and alias's metadata, under the given keys."},
		"user_claim": {Type: framework.TypeString,
			Description: "The claim whose value names the identity alias (required)."},
		"user_claim_json_pointer": {Type: framework.TypeBool,
			Description: "Read user_claim as a JSON pointer rather than a top-level claim name."},
		"groups_claim": {Type: framework.TypeString,
			Description: "The claim (a string or a list of strings) naming the caller's groups."},
		"clock_skew_leeway": leeway("on every time claim (exp, nbf, iat)", 60),
		"expiration_leeway": leeway("added to iat or nbf to expire a token without exp", 150),
		"not_before_leeway": leeway("before exp at which a token without nbf or iat becomes valid", 150),
	}
	tokenutil.AddFields(f)
	return f
}

func (b *backend) rolePaths() []*framework.Path {
	return b.roles.Paths(roleFields(), (*role).describe, b.writeRole,
		"Create, read, update or delete a role: the bindings a token must satisfy and the token a login gets.")
}

// writeRole creates a role or changes the fields the request sets on an
// existing one, then checks the whole role with Vault's rules. Nothing is
// stored when a check fails.
func (b *backend) writeRole(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.roles.Write(ctx, name, func(r *role) error {
		if err := r.apply(d); err != nil {
			return err
		}
		return r.validate(b.system.MaxLeaseTTL())
	})
	if err != nil {
		return nil, err
	}
	if maxTTL := b.system.MaxLeaseTTL(); maxTTL > 0 && r.MaxTTL > maxTTL {
		resp := &logical.Response{}
		resp.AddWarning("token max ttl is greater than the system or backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
		return resp, nil
	}
	return nil, nil
}

// apply copies the fields the request set onto r.
func (r *role) apply(d *framework.FieldData) error {
	if v, ok := d.GetOk("role_type"); ok {
		r.RoleType = v.(string)
	}
	if r.RoleType == "" {
		// Vault's default, which this method does not serve.
		r.RoleType = roleTypeOIDC
	}
	strs := map[string]*string{"bound_subject": &r.BoundSubject, "user_claim": &r.UserClaim, "groups_claim": &r.GroupsClaim}
	for f, dst := range strs {
		if v, ok := d.GetOk(f); ok {
			*dst = v.(string)
		}
	}
	if v, ok := d.GetOk("bound_audiences"); ok {
		r.BoundAudiences = slices.DeleteFunc(v.([]string), func(s string) bool { return s == "" })
	}
	if v, ok := d.GetOk("user_claim_json_pointer"); ok {
		r.UserClaimJSONPointer = v.(bool)
	}
	if v, ok := d.GetOk("bound_claims_type"); ok {
		r.BoundClaimsType = v.(string)
	}
	if v, ok := d.GetOk("bound_claims"); ok {
		r.BoundClaims = v.(map[string]any)
	}
	if v, ok := d.GetOk("claim_mappings"); ok {
		r.ClaimMappings = v.(map[string]string)
	}
	leeways := map[string]*time.Duration{"clock_skew_leeway": &r.ClockSkewLeeway,
		"expiration_leeway": &r.ExpirationLeeway, "not_before_leeway": &r.NotBeforeLeeway}
	for f, dst := range leeways {
		if v, ok := d.GetOk(f); ok {
			*dst = v.(time.Duration)
		}
	}
	return r.Params.Parse(d)
}

// validate checks r as a whole, with Vault's messages where it has them.
func (r *role) validate(maxLeaseTTL time.Duration) error {
	switch r.RoleType {
	case roleTypeJWT:
	case roleTypeOIDC:
		return logical.InvalidRequest(`role_type "oidc" (the default when role_type is not set) is not supported: Coffer serves JWT logins only; set role_type=jwt`)
	default:
		return logical.InvalidRequest("invalid 'role_type': %s", r.RoleType)
	}
	if r.BoundClaimsType != boundClaimsString && r.BoundClaimsType != boundClaimsGlob {
		return logical.InvalidRequest("invalid 'bound_claims_type': %s", r.BoundClaimsType)
	}
	if r.UserClaim == "" {
		return logical.InvalidRequest("a user claim must be defined on the role")
	}
	if r.UserClaimJSONPointer {
		if err := jwtverify.CheckClaimRef(r.UserClaim); err != nil || !strings.HasPrefix(r.UserClaim, "/") {
			return logical.InvalidRequest("user_claim %q is not a JSON pointer (such as /sub), as user_claim_json_pointer asks", r.UserClaim)
		}
	}
	if r.GroupsClaim != "" {
		if err := jwtverify.CheckClaimRef(r.GroupsClaim); err != nil {
			return logical.InvalidRequest("groups_claim: %v", err)
		}
	}
	if err := r.validateBoundClaims(); err != nil {
		return err
	}
	if err := r.validateClaimMappings(); err != nil {
		return err
	}
	if len(r.BoundAudiences) == 0 && len(r.BoundCIDRs) == 0 && r.BoundSubject == "" && len(r.BoundClaims) == 0 {
		return logical.InvalidRequest("must have at least one bound constraint when creating/updating a role")
	}
	if maxLeaseTTL > 0 && r.Period > maxLeaseTTL {
		return logical.InvalidRequest("'period' of %q is greater than the backend's maximum lease TTL of %q", r.Period.String(), maxLeaseTTL.String())
	}
	return nil
}

func (r *role) validateBoundClaims() error {
	for _, ref := range slices.Sorted(maps.Keys(r.BoundClaims)) {
		if err := jwtverify.CheckClaimRef(ref); err != nil {
			return logical.InvalidRequest("bound_claims: %v", err)
		}
		vals, ok := scalars(r.BoundClaims[ref])
		if !ok || len(vals) == 0 {
			return logical.InvalidRequest("bound_claims[%q] must be a string, number or boolean, or a non-empty list of them", ref)
		}
		if r.BoundClaimsType != boundClaimsGlob {
			continue
		}
		for _, v := range vals {
			if _, ok := v.(string); !ok {
				return logical.InvalidRequest("claim is not a string: %v (bound_claims[%q]; glob bound claims must be strings)", v, ref)
			}
		}
	}
	return nil
}

func (r *role) validateClaimMappings() error {
	targets := map[string]bool{}
	for _, src := range slices.Sorted(maps.Keys(r.ClaimMappings)) {
		if err := jwtverify.CheckClaimRef(src); err != nil {
			return logical.InvalidRequest("claim_mappings: %v", err)
		}
		dst := r.ClaimMappings[src]
		switch {
		case dst == "":
			return logical.InvalidRequest("claim_mappings[%q] names no metadata key", src)
		case slices.Contains(reservedMetadata, dst):
			return logical.InvalidRequest("metadata key %q is reserved and may not be a mapping destination", dst)
		case targets[dst]:
			return logical.InvalidRequest("multiple keys are mapped to metadata key %q", dst)
		}
		targets[dst] = true
	}
	return nil
}

// scalars returns v as a list of scalars (string, bool, json.Number or
// float64), a single scalar as a list of one; ok is false for anything
// else (objects, nulls, lists holding them).
func scalars(v any) ([]any, bool) {
	switch x := v.(type) {
	case string, bool, json.Number, float64:
		return []any{x}, true
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, bool, json.Number, float64:
			default:
				return nil, false
			}
		}
		return x, true
	}
	return nil, false
}
