package seal

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

// userErr makes a sentinel that is also a 400-class logical error, so the
// HTTP layer maps it without knowing this package.
func userErr(msg string) error {
	return &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: msg}
}

// Errors from Split and Combine. All are caused by the caller's input and
// wrap logical.ErrInvalidRequest.
var (
	// ErrParts means the share count or threshold is out of range.
	ErrParts = userErr("secret_shares and secret_threshold must satisfy 2 <= secret_threshold <= secret_shares <= 255, or both be 1")
	// ErrEmptySecret means Split was given nothing to split.
	ErrEmptySecret = userErr("cannot split an empty secret")
	// ErrNoShares means Combine was given no shares.
	ErrNoShares = userErr("no unseal key shares were given")
	// ErrShareLength means shares differ in length or are too short to
	// hold a value and an index.
	ErrShareLength = userErr("unseal key shares must all have the same length, of at least 2 bytes")
	// ErrDuplicateShare means two shares carry the same index.
	ErrDuplicateShare = userErr("two unseal key shares have the same index; each share must be given once")
	// ErrShareIndex means a share carries index 0, which Split never uses.
	ErrShareIndex = userErr("unseal key share is malformed (index 0)")
)

// Errors from the Manager.
var (
	// ErrAlreadyInitialized is returned by Init when the barrier has a
	// keyring already.
	ErrAlreadyInitialized = userErr("Vault is already initialized")
	// ErrNotInitialized is returned by Unseal before Init; it wraps
	// logical.ErrNotInitialized.
	ErrNotInitialized error = &logical.UserError{Kind: logical.ErrNotInitialized, Msg: "Vault is not initialized"}
	// ErrInvalidKey means the shares given combined into a key that does not
	// unseal the barrier. Progress has been reset; start again with correct
	// shares.
	ErrInvalidKey = userErr("the unseal key shares given do not form the unseal key for this server; progress has been reset, submit the correct shares again")
	// ErrInvalidShare means a share is malformed (wrong length or not
	// decodable) and was not counted.
	ErrInvalidShare = userErr("unseal key share is malformed: it must be one of the keys returned by init, in hex or base64")
	// ErrStaticKeyLength means a static seal key is not 32 bytes.
	ErrStaticKeyLength = userErr("the static seal key must be exactly 32 bytes")
	// ErrWrongSealType means the stored seal configuration is for another
	// kind of seal than the operation needs (for example shares given to a
	// server that unseals with a static key).
	ErrWrongSealType = userErr("this operation does not match the server's seal type")
	// ErrNoSealConfig means a keyring exists but the seal configuration
	// does not: storage is damaged or was partly restored.
	ErrNoSealConfig = errors.New("barrier is initialized but the seal configuration is missing")
)
