package token

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

// Sentinel errors. User-facing ones wrap a logical sentinel so that the HTTP
// layer maps them to a status code; match them with errors.Is.
var (
	// ErrNoStorage is returned by New without Config.Storage.
	ErrNoStorage = errors.New("token store: no storage")
	// ErrCorrupt marks stored token data that fails an integrity check.
	ErrCorrupt = errors.New("token store: corrupt entry")
	// ErrBadToken is a 403: the token presented or named is unknown,
	// expired or used up.
	ErrBadToken = logical.CodedError(logical.ErrPermissionDenied, "bad token")
	// ErrInvalidAccessor is a 400: no live token has this accessor.
	ErrInvalidAccessor = logical.CodedError(logical.ErrInvalidRequest, "invalid accessor")
	// ErrNotRenewable is a 400: the token was issued non-renewable, or never
	// expires.
	ErrNotRenewable = logical.CodedError(logical.ErrInvalidRequest, "lease is not renewable")
	// ErrPastMaxTTL is a 400: the token has reached its maximum lifetime.
	ErrPastMaxTTL = logical.CodedError(logical.ErrInvalidRequest, "past the max TTL, cannot renew")
	// ErrRootFromLogin is a 400: an auth method asked for a token with the
	// root policy, which only init (and root itself) may hand out.
	ErrRootFromLogin = logical.CodedError(logical.ErrInvalidRequest, "auth methods may not issue tokens with the root policy; remove \"root\" from the role's or user's policies")
	// ErrWrappingPolicy is a 400: the "response-wrapping" policy belongs to
	// response-wrapping tokens alone; a token that had it could pass for
	// one.
	ErrWrappingPolicy = logical.CodedError(logical.ErrInvalidRequest, "cannot assign the \"response-wrapping\" policy: it is reserved for response-wrapping tokens")
	// ErrPolicyEscalation is a 400: a non-root parent asked for a policy it
	// does not hold itself.
	ErrPolicyEscalation = logical.CodedError(logical.ErrInvalidRequest, "child policies must be a subset of the parent's policies")
	// ErrOrphanDenied is a 403: only root or sudo may create tokens without a
	// parent.
	ErrOrphanDenied = logical.CodedError(logical.ErrPermissionDenied, "root or sudo privileges required to create an orphan token")
	// ErrPeriodDenied is a 403: only root or sudo may create periodic tokens.
	ErrPeriodDenied = logical.CodedError(logical.ErrPermissionDenied, "root or sudo privileges required to create a periodic token")
	// ErrCustomIDDenied is a 403: only root may choose a token's ID.
	ErrCustomIDDenied = logical.CodedError(logical.ErrPermissionDenied, "root privileges required to specify a token id")
	// ErrDuplicateID is a 400: a caller-chosen ID is already in use.
	ErrDuplicateID = logical.CodedError(logical.ErrInvalidRequest, "cannot create a token with a duplicate ID")
	// ErrInvalidID is a 400: a caller-chosen ID is empty, too long, or looks
	// like a generated token.
	ErrInvalidID = logical.CodedError(logical.ErrInvalidRequest, "token id must be 1 to 128 printable characters and must not start with \"s.\" or \"b.\"")
	// ErrNegativeUses is a 400.
	ErrNegativeUses = logical.CodedError(logical.ErrInvalidRequest, "number of uses cannot be negative")
	// ErrUsesExceedParent is a 400: a parent with a use limit cannot mint a
	// child with more uses than it has left, or with no limit.
	ErrUsesExceedParent = logical.CodedError(logical.ErrInvalidRequest, "child token must have a use limit no greater than the parent's remaining uses")
	// ErrParentRevoked is a 403: the parent was revoked while the child was
	// being created.
	ErrParentRevoked = logical.CodedError(logical.ErrPermissionDenied, "parent token was revoked")
	// ErrNoCaller is a 403: a route that acts on the caller's token was
	// reached without one.
	ErrNoCaller = logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	// ErrMissingToken is a 400: a route that names a token got none.
	ErrMissingToken = logical.CodedError(logical.ErrInvalidRequest, "missing token")
	// ErrMissingAccessor is a 400.
	ErrMissingAccessor = logical.CodedError(logical.ErrInvalidRequest, "missing accessor")
	// ErrInvalidTokenType is a 400: a token type other than "service" or
	// "batch" was asked for.
	ErrInvalidTokenType = logical.CodedError(logical.ErrInvalidRequest, "invalid 'token_type' value")
	// ErrBatchParent is a 400: a batch token tried to create a token.
	ErrBatchParent = logical.CodedError(logical.ErrInvalidRequest, "batch tokens cannot create more tokens")
	// ErrBatchRoot is a 400: batch tokens cannot be revoked, so none may
	// carry the root policy.
	ErrBatchRoot = logical.CodedError(logical.ErrInvalidRequest, "batch tokens cannot be root tokens")
	// ErrBatchCustomID is a 400: a batch token's ID is its sealed entry.
	ErrBatchCustomID = logical.CodedError(logical.ErrInvalidRequest, "batch tokens cannot have \"id\" set")
	// ErrBatchNotRenewable is a 400.
	ErrBatchNotRenewable = logical.CodedError(logical.ErrInvalidRequest, "batch tokens cannot be renewed")
	// ErrBatchNotRevocable is a 400: a batch token lives until its TTL ends
	// (or its parent is revoked).
	ErrBatchNotRevocable = logical.CodedError(logical.ErrInvalidRequest, "batch tokens cannot be revoked")
	// ErrRootFromNonRoot is a 400: a role may not let a non-root caller mint
	// a root token.
	ErrRootFromNonRoot = logical.CodedError(logical.ErrInvalidRequest, "root tokens may not be created without parent token being root")
	// ErrRoleGone is a 400: a token created against a role is renewed after
	// the role was deleted.
	ErrRoleGone = logical.CodedError(logical.ErrInvalidRequest, "the token's role no longer exists; not renewing")
)
