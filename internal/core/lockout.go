package core

import (
	"context"

	"github.com/cofferhq/coffer/internal/lockout"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// lockoutPrefix is the barrier prefix of the persisted user locks.
const lockoutPrefix = "sys/locked-users/"

var _ lockout.Mounts = (*mountTable)(nil)

// newLockout opens the user lockout state over the barrier: the persisted
// locks are read back, so a lock survives a restart or a seal.
func (c *Core) newLockout(ctx context.Context, mt *mountTable) (*lockout.Guard, error) {
	tr := lockout.NewTracker(logical.NewView(c.barrier, lockoutPrefix), lockout.Options{Logger: c.logger.With("component", "lockout")})
	if err := tr.Load(ctx); err != nil {
		return nil, err
	}
	return lockout.NewGuard(c.conf.UserLockout, mt, tr), nil
}

// LockoutMount implements lockout.Mounts.
func (mt *mountTable) LockoutMount(accessor string) (string, *lockout.Settings, bool) {
	mt.mu.RLock()
	defer mt.mu.RUnlock()
	for _, e := range mt.entries[system.AuthTable] {
		if e.Accessor == accessor {
			return e.Type, e.UserLockout, true
		}
	}
	return "", nil, false
}

// ListLockedUsers implements system.LockedUsers.
func (a sysAdapter) ListLockedUsers(ctx context.Context, accessor string) (map[string][]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.lockout.Locked(ctx, accessor)
}

// UnlockUser implements system.LockedUsers.
func (a sysAdapter) UnlockUser(ctx context.Context, accessor, alias string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.lockout.Unlock(ctx, accessor, alias)
}
