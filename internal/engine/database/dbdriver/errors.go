package dbdriver

import "errors"

// Sentinel errors a Driver's errors wrap, so that the engine can tell the
// caller what kind of failure it was. Match them with errors.Is.
var (
	// ErrUnavailable: the server could not be reached, or refused the root
	// login; nothing was changed on it.
	ErrUnavailable = errors.New("database unavailable")
	// ErrBadConfig: the configuration cannot work as written (an
	// unparsable connection_url, an unknown password_authentication).
	ErrBadConfig = errors.New("invalid database configuration")
	// ErrRollbackFailed: a creation failed part-way and undoing it failed
	// too, so the user may remain; the engine keeps a record and retries.
	ErrRollbackFailed = errors.New("rollback failed")
	// ErrClosed: the Driver was closed.
	ErrClosed = errors.New("database connection closed")
)

// Unavailable marks err as ErrUnavailable without changing its message.
func Unavailable(err error) error { return &unavailable{err} }

type unavailable struct{ err error }

func (u *unavailable) Error() string   { return u.err.Error() }
func (u *unavailable) Unwrap() []error { return []error{ErrUnavailable, u.err} }
