package core

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/cofferhq/coffer/internal/logical"
)

// gatedBackend is a factory-built backend as the router serves it. Every
// call holds the gate's read lock; retire takes the write lock, so it waits
// for the calls in flight and turns later ones over to the backend that
// replaced it. That is how a tune of options, a KV upgrade or a remount
// swaps a backend under load without any request running on a backend that
// was cleaned up, or writing data that is being converted.
type gatedBackend struct {
	inner logical.Backend

	// flight is held (read) by each client request from its call to the
	// backend until the lease of what it returned is registered (admit);
	// drain takes it to wait for them, so that disabling (or moving) a mount
	// revokes (or moves) every lease it handed out, including one still
	// being registered.
	// It is not mu, which the backend calls take again.
	flight   sync.RWMutex
	draining bool

	mu      sync.RWMutex
	retired bool
	// next serves what arrives after retirement; nil answers "not found"
	// (the mount was disabled or moved).
	next logical.Backend

	// endCall and endFlight are mu.RUnlock and flight.RUnlock bound once:
	// a method value made per request would be an allocation each time.
	endCall, endFlight func()
}

var (
	_ logical.Backend          = (*gatedBackend)(nil)
	_ logical.ExistenceChecker = (*gatedBackend)(nil)
	_ logical.PathInfo         = (*gatedBackend)(nil)
	_ logical.AuthRenewer      = (*gatedBackend)(nil)
	_ logical.ParamParser      = (*gatedBackend)(nil)
	_ logical.LoginAliaser     = (*gatedBackend)(nil)
	_ logical.BackgroundRunner = (*gatedBackend)(nil)
)

func gate(b logical.Backend) *gatedBackend {
	g := &gatedBackend{inner: b}
	g.endCall, g.endFlight = g.mu.RUnlock, g.flight.RUnlock
	return g
}

// enter returns the backend to call and the function that ends the call.
func (g *gatedBackend) enter() (logical.Backend, func()) {
	g.mu.RLock()
	if !g.retired {
		return g.inner, g.endCall
	}
	next := g.next
	g.mu.RUnlock()
	return next, func() {}
}

// admit lets a client request of the mount's in and returns the function
// to call once its response (and any lease in it) is registered. While
// the mount drains it refuses the request.
func (g *gatedBackend) admit(mountPoint string) (func(), error) {
	g.flight.RLock()
	if g.draining {
		g.flight.RUnlock()
		return nil, logical.CodedError(logical.ErrUnsupportedPath, "no handler for route %q: the mount is being moved or disabled", mountPoint)
	}
	return g.endFlight, nil
}

// drain, with on, waits for the client requests in flight to finish and
// refuses later ones (the lease manager's renewals and revocations still
// pass); without, it lets them in again.
func (g *gatedBackend) drain(on bool) {
	g.flight.Lock()
	g.draining = on
	g.flight.Unlock()
}

// admitRequest is admit for whatever backend the router serves: only
// factory-built ones drain.
func admitRequest(b logical.Backend, mountPoint string) (func(), error) {
	if g, ok := b.(*gatedBackend); ok {
		return g.admit(mountPoint)
	}
	return func() {}, nil
}

// HandleRequest implements logical.Backend.
func (g *gatedBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	b, done := g.enter()
	defer done()
	if b == nil {
		return nil, logical.CodedError(logical.ErrUnsupportedPath, "no handler for route %q: the mount was moved or disabled", req.MountPoint)
	}
	return b.HandleRequest(ctx, req)
}

// ExistenceCheck implements logical.ExistenceChecker for backends that
// have one; for the others it reports that there is no check.
func (g *gatedBackend) ExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	b, done := g.enter()
	defer done()
	if ec, ok := b.(logical.ExistenceChecker); ok {
		return ec.ExistenceCheck(ctx, req)
	}
	return false, false, nil
}

// RenewAuth implements logical.AuthRenewer: a backend without the hook
// allows every renewal, a retired one without successor none.
func (g *gatedBackend) RenewAuth(ctx context.Context, req *logical.Request) error {
	b, done := g.enter()
	defer done()
	if b == nil {
		return logical.CodedError(logical.ErrPermissionDenied, "the auth method that issued this token is no longer mounted")
	}
	if r, ok := b.(logical.AuthRenewer); ok {
		return r.RenewAuth(ctx, req)
	}
	return nil
}

// ParseParams implements logical.ParamParser for backends that have it,
// so that policy parameter rules see what the handler will; for the others
// it reports that no route parses the request, and the rules see raw input.
// Every optional interface the core looks for on a backend must be passed
// on here, or a gated backend would silently lose it.
func (g *gatedBackend) ParseParams(req *logical.Request) ([]logical.Param, bool, error) {
	b, done := g.enter()
	defer done()
	if pp, ok := b.(logical.ParamParser); ok {
		return pp.ParseParams(req)
	}
	return nil, false, nil
}

// LoginAlias implements logical.LoginAliaser for backends that name their
// logins' aliases, so that user lockout sees through the gate; for the
// others, and a retired backend without successor, there is no alias.
func (g *gatedBackend) LoginAlias(ctx context.Context, req *logical.Request) (string, error) {
	b, done := g.enter()
	defer done()
	if la, ok := b.(logical.LoginAliaser); ok {
		return la.LoginAlias(ctx, req)
	}
	return "", nil
}

// StartBackground implements logical.BackgroundRunner for backends that
// have background work, on the backend now serving the mount.
func (g *gatedBackend) StartBackground(ctx context.Context) {
	b, done := g.enter()
	defer done()
	if br, ok := b.(logical.BackgroundRunner); ok {
		br.StartBackground(ctx)
	}
}

// StopBackground implements logical.BackgroundRunner like StartBackground.
func (g *gatedBackend) StopBackground() {
	b, done := g.enter()
	defer done()
	if br, ok := b.(logical.BackgroundRunner); ok {
		br.StopBackground()
	}
}

// SpecialPaths implements logical.PathInfo with the backend's own.
func (g *gatedBackend) SpecialPaths() *logical.Paths {
	if pi, ok := g.inner.(logical.PathInfo); ok {
		return pi.SpecialPaths()
	}
	return nil
}

// retire waits for the calls in flight, sends every later one to next
// (nil: "not found") and cleans the backend up. Safe to call once; the
// caller must not hold a lock that a request may wait for.
func (g *gatedBackend) retire(ctx context.Context, next logical.Backend) {
	g.mu.Lock()
	g.retired, g.next = true, next
	g.mu.Unlock()
	if c, ok := g.inner.(logical.Cleaner); ok {
		c.Cleanup(ctx)
	}
}

// sealed answers what reached a backend as the server sealed: the caller
// learns the server is sealed (503), as it would a moment later.
type sealed struct{}

func (sealed) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, logical.ErrSealed
}

// upgrading answers every request while a KV mount's data is converted to
// version 2, with Vault's message, so clients that retry on it work.
type upgrading struct{}

func (upgrading) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return nil, logical.InvalidRequest("Upgrading from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service shortly.")
}

// tokenHeaders carry the caller's token: no backend ever sees them.
var tokenHeaders = []string{"X-Vault-Token", "Authorization"}

// passthrough returns the request headers a mount asked for (its
// passthrough_request_headers, canonical names), nil when none.
func passthrough(h http.Header, names []string) http.Header {
	if len(names) == 0 || len(h) == 0 {
		return nil
	}
	var out http.Header
	for _, n := range names {
		v, ok := h[n]
		if !ok || slices.Contains(tokenHeaders, n) {
			continue
		}
		if out == nil {
			out = make(http.Header, len(names))
		}
		out[n] = slices.Clone(v)
	}
	return out
}
