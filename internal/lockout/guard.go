package lockout

import (
	"context"
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

// Mounts finds auth mounts for the Guard. The core's mount table implements
// it.
type Mounts interface {
	// LockoutMount returns the type and the user_lockout_config tune (nil
	// when none) of the auth mount with the given accessor; found is false
	// when no auth mount has it.
	LockoutMount(accessor string) (mountType string, tune *Settings, found bool)
}

// Guard applies user lockout to the logins the core routes. Safe for
// concurrent use.
type Guard struct {
	policy  Policy
	mounts  Mounts
	tracker *Tracker
}

// NewGuard returns a Guard resolving each mount's configuration from policy
// and mounts, and keeping its state in tracker.
func NewGuard(policy Policy, mounts Mounts, tracker *Tracker) *Guard {
	return &Guard{policy: policy, mounts: mounts, tracker: tracker}
}

// ConfigFor returns the lockout in force on the auth mount with accessor;
// found is false when there is no such mount.
func (g *Guard) ConfigFor(accessor string) (Config, bool) {
	typ, tune, found := g.mounts.LockoutMount(accessor)
	if !found {
		return Config{}, false
	}
	return g.policy.Resolve(typ, tune), true
}

// Run serves an unauthenticated request to backend b on an auth mount, with
// user lockout around it when b names the request's alias (see
// logical.LoginAliaser) and the mount's lockout is on: a locked alias gets
// ErrLocked without b running; otherwise b runs, and an answer wrapping
// logical.ErrInvalidCredentials counts as a failed attempt while one
// carrying an Auth clears the count. Any other request goes straight to b.
// req.MountAccessor must name the mount.
func (g *Guard) Run(ctx context.Context, b logical.Backend, req *logical.Request) (resp *logical.Response, err error) {
	k, cfg, guarded, err := g.begin(ctx, b, req)
	if err != nil || !guarded {
		if err != nil {
			return nil, err
		}
		return b.HandleRequest(ctx, req)
	}
	o := Neutral
	// Deferred so that a panicking backend still gives its slot back.
	defer func() { g.tracker.Release(ctx, k, cfg, o, req.RemoteAddr) }()
	resp, err = b.HandleRequest(ctx, req)
	switch {
	case errors.Is(err, logical.ErrInvalidCredentials):
		o = Failed
	case err == nil && resp != nil && resp.Auth != nil:
		o = Succeeded
	}
	return resp, err
}

// begin decides whether req is a guarded login and, if so, acquires its
// attempt.
func (g *Guard) begin(ctx context.Context, b logical.Backend, req *logical.Request) (Key, Config, bool, error) {
	la, ok := b.(logical.LoginAliaser)
	if !ok || !req.Unauthenticated || req.MountAccessor == "" {
		return Key{}, Config{}, false, nil
	}
	alias, err := la.LoginAlias(ctx, req)
	if err != nil || alias == "" {
		// A request the backend cannot name an alias for is not a login
		// it can accept either; the backend answers it.
		return Key{}, Config{}, false, err
	}
	cfg, found := g.ConfigFor(req.MountAccessor)
	if !found || cfg.Disabled {
		return Key{}, Config{}, false, nil
	}
	k := Key{Accessor: req.MountAccessor, Alias: alias}
	if err := g.tracker.Acquire(ctx, k, cfg); err != nil {
		return Key{}, Config{}, false, err
	}
	return k, cfg, true, nil
}

// Locked returns the aliases locked on each auth mount, only on the mount
// with accessor when it is not empty. Expired locks are left out.
func (g *Guard) Locked(ctx context.Context, accessor string) (map[string][]string, error) {
	return g.tracker.Locked(ctx, accessor, g.ConfigFor)
}

// Unlock ends the lock of alias on the mount with accessor, and clears its
// failures; unlocking what is not locked succeeds.
func (g *Guard) Unlock(ctx context.Context, accessor, alias string) error {
	return g.tracker.Unlock(ctx, Key{Accessor: accessor, Alias: alias})
}
