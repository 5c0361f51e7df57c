package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/lease"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/token"
)

// leasePrefix is the lease manager's view in the barrier (Vault's
// sys/expire/).
const leasePrefix = "sys/expire/"

// registerLease gives a leased secret in a backend's response its lease
// (lease.Manager.Register); it is the one place the core calls into the
// lease manager on the request path. Responses without a leased secret, and
// those whose secret already has a lease (a renewal), pass through.
func registerLease(ctx context.Context, st *active, path string, te *token.Entry, resp *logical.Response) error {
	if resp == nil || resp.Secret.SecretType() == "" || resp.Secret.LeaseID != "" {
		return nil
	}
	return st.leases.Register(ctx, path, lease.OwnerOf(te), resp.Secret)
}

// newLeaseManager builds the (stopped) lease manager of one unsealed
// period. mounts is filled in once the mount table exists; tokens when the
// token store does.
func (c *Core) newLeaseManager(mounts *leaseMounts, tokens **token.Store) *lease.Manager {
	return lease.New(lease.Config{
		Storage: logical.NewView(c.barrier, leasePrefix),
		Mounts:  mounts,
		MaxTTL:  c.conf.MaxLeaseTTL,
		TokenExists: func(ctx context.Context, hash string) (bool, error) {
			return (*tokens).Exists(ctx, hash)
		},
		Logger:    c.logger.With("component", "lease"),
		RetryBase: c.conf.LeaseRetryBase,
		RetryMax:  c.conf.LeaseRetryMax,
	})
}

// revokeTokenLeases is the token store's OnRevoke: the leases a token
// obtained go with it.
func revokeTokenLeases(m *lease.Manager, logger *slog.Logger) func(ctx context.Context, e *token.Entry) {
	return func(ctx context.Context, e *token.Entry) {
		if _, err := m.RevokeByToken(context.WithoutCancel(ctx), e.Hash); err != nil {
			logger.ErrorContext(ctx, "could not revoke the leases of a revoked token; sys/leases/tidy finds them", "accessor", e.Accessor, "error", err.Error())
		}
	}
}

// leaseMounts presents the mount table to the lease manager.
type leaseMounts struct {
	router *router.Router
	mounts *mountTable
}

var _ lease.Mounts = (*leaseMounts)(nil)

// HandleLeaseRequest implements lease.Mounts: the request goes to the
// backend as the core would route it, but with no token or policy check:
// the lease manager acts for the server.
func (l *leaseMounts) HandleLeaseRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	route, rest := l.router.Match(req.Path)
	if route == nil {
		return nil, fmt.Errorf("%w: %q", lease.ErrNoMount, req.Path)
	}
	sub := *req
	sub.Path, sub.Storage, sub.MountPoint, sub.MountType, sub.MountAccessor = rest, route.Storage, route.Path, route.Type, route.Accessor
	return route.Backend.HandleRequest(ctx, &sub)
}

// Mount implements lease.Mounts.
func (l *leaseMounts) Mount(path string) (lease.MountInfo, bool) {
	route, _ := l.router.Match(path)
	if route == nil || l.mounts == nil {
		return lease.MountInfo{}, false
	}
	def, max, ok := l.mounts.ttlsOf(route.Path)
	if !ok {
		return lease.MountInfo{}, false
	}
	return lease.MountInfo{Accessor: route.Accessor, DefaultTTL: def, MaxTTL: max}, true
}

// ttlsOf returns the effective TTLs of the mount at the route path rp.
func (mt *mountTable) ttlsOf(rp string) (time.Duration, time.Duration, bool) {
	t, rel := system.SecretsTable, rp
	if after, ok := strings.CutPrefix(rp, "auth/"); ok {
		t, rel = system.AuthTable, after
	}
	mt.mu.RLock()
	defer mt.mu.RUnlock()
	for _, e := range mt.entries[t] {
		if e.Path == rel {
			def, max := mt.effectiveTTLs(e)
			return def, max, true
		}
	}
	return 0, 0, false
}

// LeaseManager returns the lease manager of the unsealed server, or nil
// while sealed: for tests, benchmarks and (later) the HA layer, which runs
// expiry on the active node only (Start and Stop).
func (c *Core) LeaseManager() *lease.Manager {
	if st := c.state.Load(); st != nil {
		return st.leases
	}
	return nil
}

// The sys/leases/* endpoints.

// OwnsLease compares the lease's owner with the owner a lease obtained by
// the request's token would have (lease.OwnerOf), so a batch token acts
// for its parent, as it does when it obtains a lease.
func (a sysAdapter) OwnsLease(ctx context.Context, id string) (bool, error) {
	st, err := a.active()
	if err != nil {
		return false, err
	}
	te := token.UsedEntry(ctx)
	if te == nil {
		return false, nil
	}
	return st.leases.OwnedBy(ctx, id, lease.OwnerOf(te).Token)
}

func (a sysAdapter) LookupLease(ctx context.Context, id string) (*lease.Info, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.leases.Lookup(ctx, id)
}

func (a sysAdapter) RenewLease(ctx context.Context, id string, increment time.Duration) (*logical.Response, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.leases.Renew(ctx, id, increment)
}

// RevokeLeases revokes on a context that outlives the client's, as Vault
// does: a client that hangs up does not leave a prefix half revoked.
func (a sysAdapter) RevokeLeases(ctx context.Context, r system.RevokeRequest) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	switch {
	case r.Prefix:
		_, err = st.leases.RevokePrefix(ctx, r.ID, r.Sync, r.Force)
	case r.Sync:
		err = st.leases.Revoke(ctx, r.ID)
	default:
		err = st.leases.RevokeLater(ctx, r.ID)
	}
	return err
}

func (a sysAdapter) ListLeases(ctx context.Context, prefix string) ([]string, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.leases.List(ctx, prefix)
}

func (a sysAdapter) TidyLeases(context.Context) (bool, error) {
	st, err := a.active()
	if err != nil {
		return false, err
	}
	if !st.leases.Running() {
		return false, logical.InvalidRequest("the lease manager is not running on this node")
	}
	return st.leases.StartTidy(), nil
}

func (a sysAdapter) FailedLeases(ctx context.Context, limit int) ([]lease.Failure, bool, error) {
	st, err := a.active()
	if err != nil {
		return nil, false, err
	}
	return st.leases.Failures(ctx, limit)
}

func (a sysAdapter) FailedLeaseCounts(context.Context) (int, map[string]int, error) {
	st, err := a.active()
	if err != nil {
		return 0, nil, err
	}
	n, counts := st.leases.FailureCounts()
	return n, counts, nil
}

// revokeMountLeases is the mount table's revokeLeases: before a mount is
// disabled its leases are revoked, synchronously, so that the backend that
// can revoke them is still there. A failure keeps the mount and says what
// the operator can do.
func revokeMountLeases(m *lease.Manager) func(ctx context.Context, prefix string) error {
	return func(ctx context.Context, prefix string) error {
		_, err := m.RevokePrefix(context.WithoutCancel(ctx), prefix, true, false)
		var ue *logical.UserError
		if errors.As(err, &ue) {
			return logical.CodedError(ue.Kind, "cannot disable %s: revoking its leases failed: %s. The mount stays; retry once the secrets can be revoked, or remove the leases with sys/leases/revoke-force/%s", prefix, ue.Msg, prefix)
		}
		if err != nil {
			return fmt.Errorf("revoke the leases of %s: %w", prefix, err)
		}
		return nil
	}
}
