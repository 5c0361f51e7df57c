package identity

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrNoAliasName is returned by Login when the auth method reported an
	// alias without a name: a bug in the method, never the user's doing.
	ErrNoAliasName = errors.New("identity: the auth method reported an alias without a name")

	// ErrNameInUse is a 400: another entity already has the name.
	ErrNameInUse error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "entity name is already in use"}
	// ErrRootPolicy is a 400: an entity cannot carry the root policy.
	ErrRootPolicy error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "policies cannot contain root"}
	// ErrEntityNotFound is a 400 for an update naming an unknown entity ID.
	ErrEntityNotFound error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "entity not found from id"}
	// ErrAliasFactorsNeeded is a 400: an alias is created from a mount
	// accessor and a name, or updated by its ID.
	ErrAliasFactorsNeeded error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "'id' or 'mount_accessor' and 'name' must be provided"}
	// ErrInvalidAliasID is a 400 for an update naming an unknown alias ID.
	ErrInvalidAliasID error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "invalid alias ID provided"}
	// ErrInvalidCanonicalID is a 400: canonical_id names no entity.
	ErrInvalidCanonicalID error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "invalid canonical ID"}
	// ErrAliasExists is a 400: an entity has at most one alias per mount.
	ErrAliasExists error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "Alias already exists for requested entity and mount accessor"}
	// ErrAliasFactorsTaken is a 400: another alias already has this mount
	// accessor and name.
	ErrAliasFactorsTaken error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "alias with combination of mount accessor and name already exists"}
	// ErrLookupNoQuery and ErrLookupConflict are the 400s of
	// identity/lookup/entity without, or with more than one, criterion.
	ErrLookupNoQuery    error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "query parameter not supplied"}
	ErrLookupConflict   error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "query parameter conflict; please supply distinct set of query parameters"}
	ErrLookupAliasPair  error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "both 'alias_name' and 'alias_mount_accessor' needs to be set"}
	errCorruptEntityKey       = errors.New("identity: stored entity does not match its key")
)

// nameCaseError is the 400 for a name that addresses an entity in another
// case than the entity's own. Names are unique without case, but a policy
// on identity/entity/name/boss must decide who changes "boss": if "BOSS"
// reached the same entity, the rule would be stepped around.
func nameCaseError(name string) error {
	return logical.InvalidRequest("entity names are compared without case and this one is written %q: address it by that name or by its ID", name)
}
