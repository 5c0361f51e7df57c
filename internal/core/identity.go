package core

import (
	"context"
	"slices"

	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/token"
)

// identityPrefix is the barrier prefix of the identity store.
const identityPrefix = "sys/identity/"

var _ identity.Mounts = (*mountTable)(nil)

// errDenied is the one answer for a token that may not act.
var errDenied = logical.CodedError(logical.ErrPermissionDenied, "permission denied")

// tokenACL is the ACL every check of a token uses (requests,
// sys/capabilities*, the UI's mount listing): the token's policies plus its
// entity's, templated policies resolved for the entity. A token whose
// entity is disabled or has been deleted may do nothing, as in Vault.
func tokenACL(ctx context.Context, st *active, te *token.Entry) (*policy.ACL, error) {
	if te.EntityID == "" {
		return st.policies.ACL(ctx, te.Policies, nil)
	}
	ent, ok := tokenEntity(st, te)
	if !ok {
		return nil, errDenied
	}
	return st.policies.ACL(ctx, withPolicies(te.Policies, ent.Policies), ent)
}

// tokenEntity returns the entity of a token that has one, and whether the
// token may act at all: not when its entity is disabled or gone.
func tokenEntity(st *active, te *token.Entry) (*identity.Entity, bool) {
	if te.EntityID == "" {
		return nil, true
	}
	ent := st.identity.Entity(te.EntityID)
	return ent, ent != nil && !ent.Disabled
}

// withPolicies adds extra to a sorted set of policy names, keeping it
// sorted and without duplicates so that equal sets share one cache entry.
func withPolicies(names, extra []string) []string {
	if len(extra) == 0 {
		return names
	}
	out := slices.Concat(names, extra)
	slices.Sort(out)
	return slices.Compact(out)
}

// attachEntity hands the identity a login proved to the identity store
// before its token is issued: the token carries the entity's ID. A
// disabled entity cannot log in.
func attachEntity(ctx context.Context, st *active, accessor string, a *logical.Auth) (*identity.Entity, error) {
	if a.Alias == nil {
		return nil, nil
	}
	ent, err := st.identity.Login(ctx, accessor, a.Alias)
	if err != nil {
		return nil, err
	}
	if ent.Disabled {
		return nil, errDenied
	}
	a.EntityID = ent.ID
	return ent, nil
}

// reportIdentityPolicies shows, on an issued login, the entity's policies
// beside the token's, as Vault's login response does.
func reportIdentityPolicies(a *logical.Auth, ent *identity.Entity) {
	if ent == nil || len(ent.Policies) == 0 {
		return
	}
	a.IdentityPolicies = slices.Clone(ent.Policies)
	a.Policies = withPolicies(a.Policies, ent.Policies)
}

// identityPolicies returns the policies of a token's entity for lookups.
func (c *Core) identityPolicies(entityID string) []string {
	st := c.state.Load()
	if st == nil || st.identity == nil {
		return nil
	}
	if ent := st.identity.Entity(entityID); ent != nil {
		return ent.Policies
	}
	return nil
}

// AuthMountByAccessor implements identity.Mounts.
func (mt *mountTable) AuthMountByAccessor(accessor string) (string, string, bool) {
	mt.mu.RLock()
	defer mt.mu.RUnlock()
	for _, e := range mt.entries[system.AuthTable] {
		if e.Accessor == accessor {
			return routePath(system.AuthTable, e.Path), e.Type, true
		}
	}
	return "", "", false
}
