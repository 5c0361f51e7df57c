package logical

import (
	"errors"
	"fmt"
)

// Sentinel errors with a fixed meaning at the HTTP boundary. Match them with
// errors.Is; never match on error strings.
var (
	// ErrPermissionDenied is a 403: a missing, unknown or expired token, or a
	// policy that does not allow the operation.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrSealed is a 503: the barrier is sealed.
	ErrSealed = errors.New("Vault is sealed")
	// ErrStandby is a 503: this server is a standby and the request could
	// not be forwarded to the active server (none is known yet).
	ErrStandby = errors.New("this node is a standby and no active node is known yet; retry shortly")
	// ErrUnsupportedPath is a 404: no route matched the path.
	ErrUnsupportedPath = errors.New("unsupported path")
	// ErrUnsupportedOperation is a 405: the route exists but not for this operation.
	ErrUnsupportedOperation = errors.New("unsupported operation")
	// ErrInvalidRequest is a 400.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrCASMismatch is a 400, as in Vault's KV v2: a check-and-set version
	// did not match. Its own sentinel lets callers retry on it.
	ErrCASMismatch = errors.New("check-and-set parameter did not match the current version")
	// ErrRateLimited is a 429.
	ErrRateLimited = errors.New("rate limit quota exceeded")
	// ErrNotInitialized is a 400 on paths that need an initialised server.
	ErrNotInitialized = errors.New("Vault is not initialized")
	// ErrNotFound is a 404 with a message, for the cases where an empty 404
	// is not enough.
	ErrNotFound = errors.New("not found")
	// ErrUpstream is a 502 with its message shown: a server Coffer works
	// through (a database an engine manages) is down or refused what was
	// asked. The message names the server and must hold no secret.
	ErrUpstream = errors.New("upstream server failed")
	// ErrTooLarge is a 413 with its message shown: a request body over a
	// limit the message names (a snapshot upload over max_snapshot_size).
	ErrTooLarge = errors.New("request too large")
	// ErrInvalidCredentials is a 400 (it wraps ErrInvalidRequest): a login
	// whose credentials did not check out, whatever the reason (unknown
	// user, wrong password). Auth methods return it, with their own
	// message, for exactly those failures, because the core's user lockout
	// counts them as failed attempts.
	ErrInvalidCredentials = fmt.Errorf("invalid credentials: %w", ErrInvalidRequest)
)

// UserError is an error caused by the caller, carrying the sentinel that
// decides its status code and a message a person can act on.
type UserError struct {
	Kind error
	Msg  string
}

func (e *UserError) Error() string { return e.Msg }

// Unwrap lets errors.Is find the Kind.
func (e *UserError) Unwrap() error { return e.Kind }

// InvalidRequest returns a 400-class error with a formatted message.
func InvalidRequest(format string, args ...any) error {
	return &UserError{Kind: ErrInvalidRequest, Msg: fmt.Sprintf(format, args...)}
}

// CodedError returns an error of the given kind with a formatted message.
func CodedError(kind error, format string, args ...any) error {
	return &UserError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
