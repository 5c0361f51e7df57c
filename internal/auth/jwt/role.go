package jwt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// role returns the named role from the cache, filling it from storage on a
// miss, or nil when there is none. The role returned is shared: read it,
// never change it.
func (b *backend) role(ctx context.Context, name string) (*role, error) {
	b.cacheMu.RLock()
	r := b.roles[name]
	b.cacheMu.RUnlock()
	if r != nil {
		return r, nil
	}
	b.roleMu.RLock()
	defer b.roleMu.RUnlock()
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	b.cacheRole(name, r)
	return r, nil
}

// cacheRole remembers r (nil forgets the name); callers hold roleMu.
func (b *backend) cacheRole(name string, r *role) {
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	if r == nil {
		delete(b.roles, name)
		return
	}
	b.roles[name] = r
}

// loadRole reads the named role from storage into a fresh value, or nil
// when there is none. Numbers in bound_claims stay json.Number, so they
// compare exactly with claims.
func (b *backend) loadRole(ctx context.Context, name string) (*role, error) {
	e, err := b.storage.Get(ctx, rolePrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(e.Value))
	dec.UseNumber()
	var r role
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("decode role %q: %w", name, err)
	}
	if r.BoundClaimsType == "" {
		r.BoundClaimsType = boundClaimsString
	}
	return &r, nil
}

func (b *backend) saveRole(ctx context.Context, name string, r *role) error {
	return logical.PutJSON(ctx, b.storage, rolePrefix+name, r)
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
