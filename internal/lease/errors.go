package lease

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

// User errors (400s with Vault's messages). Match them with errors.Is.
var (
	// ErrNotFound: no lease has the ID given (renew and revoke-force of an
	// exact ID report it; revoke does not, as in Vault).
	ErrNotFound = userError("lease not found")
	// ErrExpired: the lease is past its expiry or being revoked, so it can
	// no longer be renewed.
	ErrExpired = userError("lease expired")
	// ErrNotRenewable: the engine issued the secret as not renewable.
	ErrNotRenewable = userError("lease is not renewable")
	// ErrPastMaxTTL: the lease has reached its maximum TTL.
	ErrPastMaxTTL = userError("past the max TTL, cannot renew")
	// ErrBadID: the ID or prefix is not a clean path (empty, "..", "//",
	// control characters), so it cannot name a lease.
	ErrBadID = userError("invalid lease ID: it must be a path such as database/creds/app/<id>")
)

// Internal errors.
var (
	// ErrNoMount: no mount serves the path of a lease, so nothing can renew
	// or revoke it (the mount was disabled without its leases, or moved).
	ErrNoMount = errors.New("no mount serves the lease's path")
	// ErrNotLeased: Register was given a secret without a type.
	ErrNotLeased = errors.New("the secret has no type, so it cannot be leased")
	// ErrCorrupt: a stored lease or index key does not decode.
	ErrCorrupt = errors.New("corrupt lease storage")
)

func userError(msg string) error {
	return &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: msg}
}
