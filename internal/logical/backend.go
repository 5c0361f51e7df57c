package logical

import (
	"context"
	"log/slog"
	"time"
)

// Backend is what a secrets engine or auth method implements.
//
// HandleRequest is called concurrently from many goroutines; implementations
// must be safe for concurrent use. It returns (nil, nil) when the path names
// nothing that exists.
type Backend interface {
	HandleRequest(ctx context.Context, req *Request) (*Response, error)
}

// ExistenceChecker is implemented by backends that can tell whether the
// target of a write exists, so that the core can require "create" rather than
// "update" for new entries. found is false when the path has no existence
// check, in which case the write is treated as an update.
type ExistenceChecker interface {
	ExistenceCheck(ctx context.Context, req *Request) (found, exists bool, err error)
}

// PathInfo is implemented by backends that declare which of their paths are
// served without a token (logins) or need sudo on top of the capability.
type PathInfo interface {
	SpecialPaths() *Paths
}

// Paths lists path patterns relative to the mount. A trailing "*" matches any
// suffix.
type Paths struct {
	Unauthenticated []string
	Root            []string
}

// AuthRenewer is implemented by auth methods that re-check a login when
// its token is renewed, as Vault's do: the user may have been deleted or
// its policies changed since. req.Path is the login path relative to the
// mount, req.Auth describes the token (policies, metadata), req.Storage is
// the mount's view. An error refuses the renewal.
type AuthRenewer interface {
	RenewAuth(ctx context.Context, req *Request) error
}

// LoginAliaser is implemented by auth methods whose logins user lockout
// protects. LoginAlias returns what an unauthenticated request attempts to
// log in as (a user name, a role ID), normalised exactly as the method
// compares it, so that failures can be counted per alias before the method
// runs. It returns "" when req is not such a login. It must not look the
// alias up: the answer may not depend on whether the user exists.
type LoginAliaser interface {
	LoginAlias(ctx context.Context, req *Request) (string, error)
}

// Cleaner is implemented by backends that hold resources (connections,
// goroutines) to release when their mount is disabled or the server seals.
type Cleaner interface {
	Cleanup(ctx context.Context)
}

// BackgroundRunner is implemented by backends that do scheduled work of
// their own which must run on one server only, the active one (the
// database engine rotating static roles' passwords). A backend starts that
// work when its factory builds it; StopBackground halts it and waits for
// work in flight, StartBackground resumes it from what is stored. Requests
// are served either way. Both are idempotent and safe for concurrent use;
// Cleanup stops the work for good.
type BackgroundRunner interface {
	StartBackground(ctx context.Context)
	StopBackground()
}

// SystemView is what a backend may learn about the server it runs in.
type SystemView interface {
	// DefaultLeaseTTL and MaxLeaseTTL are the mount's effective values.
	DefaultLeaseTTL() time.Duration
	MaxLeaseTTL() time.Duration
}

// BackendConfig is handed to a Factory when a mount is created or loaded.
type BackendConfig struct {
	// Storage is the mount's own view.
	Storage Storage
	Logger  *slog.Logger
	System  SystemView
	// Options are the mount's options, for example {"version": "2"} for KV.
	Options map[string]string
	// MountPath is the mount's path, ending in "/".
	MountPath string
	// MountUUID identifies the mount's data: the same for every backend
	// built for the mount (after a tune of its options, a remount), which
	// may briefly run side by side, and different for every other mount.
	// Empty when the backend is not built for a mount (tests).
	MountUUID string
}

// Factory builds a backend for a mount.
type Factory func(ctx context.Context, conf *BackendConfig) (Backend, error)

// StaticSystemView is a SystemView with fixed values, for tests and defaults.
type StaticSystemView struct {
	DefaultTTL time.Duration
	MaxTTL     time.Duration
}

func (s StaticSystemView) DefaultLeaseTTL() time.Duration { return s.DefaultTTL }
func (s StaticSystemView) MaxLeaseTTL() time.Duration     { return s.MaxTTL }
