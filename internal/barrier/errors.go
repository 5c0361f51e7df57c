package barrier

import "errors"

var (
	// ErrBadKey means the unseal key did not decrypt the keyring: it is the
	// wrong key (or the wrong length). Nothing from the attempt is kept.
	ErrBadKey = errors.New("unseal key is not valid for this barrier")
	// ErrKeyLength means a key given to Initialize is not 32 bytes.
	ErrKeyLength = errors.New("unseal key must be 32 bytes")
	// ErrAlreadyInitialized means Initialize found a keyring already stored.
	ErrAlreadyInitialized = errors.New("barrier is already initialized")
	// ErrReservedKey means a caller tried to touch a key the barrier or the
	// seal keep for themselves in physical storage.
	ErrReservedKey = errors.New("key is reserved for the barrier")
	// ErrCorrupt means a stored value could not be decrypted with the
	// keyring: it was altered, truncated, or moved from another path.
	ErrCorrupt = errors.New("stored value failed authentication")
	// ErrUnknownTerm means a stored value names a key term the keyring does
	// not hold.
	ErrUnknownTerm = errors.New("stored value is encrypted under an unknown key term")
	// ErrNotTransactional means Rekey was asked of a barrier whose physical
	// backend cannot apply several writes atomically.
	ErrNotTransactional = errors.New("rekey needs a storage backend that applies several writes atomically")
)
