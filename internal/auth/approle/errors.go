package approle

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrNoStorage reports a Factory call without a storage view: a bug in
	// the caller, not something a user can fix.
	ErrNoStorage = errors.New("approle: the mount has no storage")

	// ErrInvalidCredentials is the one answer to every failed login whose
	// input was well formed, a 400 with Vault's message: an unknown role ID,
	// an unknown, expired or used-up secret ID, or a caller outside the
	// CIDR blocks of the role or the secret ID. It is one value for all of
	// them, so a caller cannot tell which half was wrong, or that both were
	// right but the address was not. The reason goes to the server log.
	// Its kind is logical.ErrInvalidCredentials (a 400), which the core's
	// user lockout counts against the role ID.
	ErrInvalidCredentials error = &logical.UserError{Kind: logical.ErrInvalidCredentials, Msg: "invalid role or secret ID"}

	// ErrNoConstraint refuses a role with nothing to check at login: no
	// secret ID and no CIDR blocks would let anyone who learns the role ID
	// log in from anywhere.
	ErrNoConstraint error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: "at least one constraint should be enabled on the role: bind_secret_id, secret_id_bound_cidrs or token_bound_cidrs"}

	// ErrRoleIDInUse refuses a role_id that another role of the mount has.
	ErrRoleIDInUse error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "role_id already in use"}

	// ErrSecretIDExists refuses a custom secret ID that is already
	// registered for the role.
	ErrSecretIDExists error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "SecretID is already registered"}

	// errCorrupt marks a stored entry that does not match the key it was
	// found under: storage was tampered with or damaged (a 500).
	errCorrupt = errors.New("approle: stored entry does not match its key")
)
