package bolt

import "errors"

var (
	// ErrLocked means another process holds the database file open.
	ErrLocked = errors.New("database file is locked by another process (is another coffer server running with the same storage path?)")
	// ErrNilEntry is returned when a transaction op carries no entry.
	ErrNilEntry = errors.New("transaction op has no entry")
	// ErrEmptyKey is returned for writes to the empty key, which bbolt
	// cannot store.
	ErrEmptyKey = errors.New("key must not be empty")
	// ErrInsecurePermissions means the data directory, the database file or
	// the write-ahead log can be written by group or others; the error says which chmod fixes it.
	ErrInsecurePermissions = errors.New("writable by group or others, so the server refuses to use it")
)

var (
	// ErrTooLarge is returned for a key or value bbolt cannot store; it is
	// refused before anything is written.
	ErrTooLarge = errors.New("too large for file storage")
	// ErrClosed is returned for writes after Close began.
	ErrClosed = errors.New("file storage is closed")
)
