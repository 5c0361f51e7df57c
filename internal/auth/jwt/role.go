package jwt

import (
	"time"

	"github.com/cofferhq/coffer/internal/auth/roles"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// rolePrefix is the storage folder of roles, keyed by lower-case name.
const rolePrefix = "role/"

// The values of role_type and bound_claims_type.
const (
	roleTypeJWT  = "jwt"
	roleTypeOIDC = "oidc"

	boundClaimsString = "string"
	boundClaimsGlob   = "glob"
)

// reservedMetadata are metadata keys the method sets itself, which
// claim_mappings may not overwrite.
var reservedMetadata = []string{"role"}

// role is one stored role. BoundClaims values are strings, booleans,
// json.Numbers or lists of them, as written.
type role struct {
	RoleType             string            `json:"role_type"`
	BoundAudiences       []string          `json:"bound_audiences"`
	BoundSubject         string            `json:"bound_subject"`
	BoundClaimsType      string            `json:"bound_claims_type"`
	BoundClaims          map[string]any    `json:"bound_claims"`
	ClaimMappings        map[string]string `json:"claim_mappings"`
	UserClaim            string            `json:"user_claim"`
	UserClaimJSONPointer bool              `json:"user_claim_json_pointer"`
	GroupsClaim          string            `json:"groups_claim"`
	ClockSkewLeeway      time.Duration     `json:"clock_skew_leeway"`
	ExpirationLeeway     time.Duration     `json:"expiration_leeway"`
	NotBeforeLeeway      time.Duration     `json:"not_before_leeway"`
	tokenutil.Params
}

// newRoleStore returns the store of the mount's roles in storage. Numbers
// in bound_claims stay json.Number, so they compare exactly with claims.
func newRoleStore(storage logical.Storage) *roles.Store[role] {
	return roles.NewStore(storage, rolePrefix, func(_ string, r *role) error {
		if r.BoundClaimsType == "" {
			r.BoundClaimsType = boundClaimsString
		}
		return nil
	})
}

// describe is the read view of r, in Vault's shape.
func (r *role) describe() map[string]any {
	m := map[string]any{
		"role_type":               r.RoleType,
		"bound_audiences":         nonNil(r.BoundAudiences),
		"bound_subject":           r.BoundSubject,
		"bound_claims_type":       r.BoundClaimsType,
		"bound_claims":            r.BoundClaims,
		"claim_mappings":          r.ClaimMappings,
		"user_claim":              r.UserClaim,
		"user_claim_json_pointer": r.UserClaimJSONPointer,
		"groups_claim":            r.GroupsClaim,
		"clock_skew_leeway":       int64(r.ClockSkewLeeway.Seconds()),
		"expiration_leeway":       int64(r.ExpirationLeeway.Seconds()),
		"not_before_leeway":       int64(r.NotBeforeLeeway.Seconds()),
	}
	r.Params.Describe(m)
	return m
}
