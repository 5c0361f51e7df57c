package approle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

// defaultMaxTTL stands in for the mount's maximum lease TTL when the
// backend is built without a SystemView (tests): Vault's 768h.
const defaultMaxTTL = 768 * time.Hour

// tidyInterval is how often the background sweep removes expired secret
// IDs, as Vault's periodic function does.
const tidyInterval = time.Minute

// backend holds one mount's state. Safe for concurrent use.
type backend struct {
	storage logical.Storage
	logger  *slog.Logger
	system  logical.SystemView
	secrets *secretStore
	// limit counts failed logins per (role ID, client address).
	limit *loginlimit.Limiter
	// roleMu is held for writing by role changes (which must see and
	// update the role_id index atomically, and delete a role with all its
	// secret IDs) and for reading while a secret ID is issued, so that no
	// secret ID can outlive its role or land on its successor.
	roleMu sync.RWMutex

	// tidyMu is held while a tidy runs, so at most one does.
	tidyMu sync.Mutex
	// life ends with Cleanup; background work runs under it and running
	// counts it. bgMu and stopped keep new work from starting once
	// Cleanup has begun.
	life    context.Context
	endLife context.CancelFunc
	running sync.WaitGroup
	bgMu    sync.Mutex
	stopped bool
}

// Factory builds an approle backend for a mount. It keeps roles and secret
// ID digests in conf.Storage, creating the mount's HMAC key there on first
// use, sweeps expired secret IDs every minute until its Cleanup, and
// throttles failed logins per (role ID, client address) with a 429. The
// returned *framework.Backend is safe for concurrent use; login is declared
// unauthenticated. It returns ErrNoStorage when conf has no storage.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	b, err := newBackend(ctx, conf, time.Now)
	if err != nil {
		return nil, err
	}
	b.startSweeper()
	return b.framework(), nil
}

func newBackend(ctx context.Context, conf *logical.BackendConfig, now func() time.Time) (*backend, error) {
	logger := conf.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secrets, err := openSecretStore(ctx, conf.Storage, now)
	if err != nil {
		return nil, err
	}
	b := &backend{storage: conf.Storage, logger: logger, system: conf.System, secrets: secrets,
		limit: loginlimit.New(loginlimit.Config{Now: now})}
	b.life, b.endLife = context.WithCancel(context.WithoutCancel(ctx))
	return b, nil
}

func (b *backend) framework() *framework.Backend {
	var paths []*framework.Path
	paths = append(paths, b.loginPaths()...)
	paths = append(paths, b.rolePaths()...)
	paths = append(paths, b.roleFieldPaths()...)
	paths = append(paths, b.roleIDPaths()...)
	paths = append(paths, b.secretIDPaths()...)
	paths = append(paths, b.secretIDLookupPaths()...)
	paths = append(paths, b.tidyPaths()...)
	return &framework.Backend{
		Paths:     paths,
		Special:   &logical.Paths{Unauthenticated: []string{"login", "login/"}},
		AuthRenew: b.renewAuth,
		Clean:     b.cleanup,
	}
}

// maxTTL is the mount's maximum lease TTL.
func (b *backend) maxTTL() time.Duration {
	if b.system != nil && b.system.MaxLeaseTTL() > 0 {
		return b.system.MaxLeaseTTL()
	}
	return defaultMaxTTL
}

// goBackground counts a background goroutine in, unless the backend is
// being cleaned up.
func (b *backend) goBackground(fn func(ctx context.Context)) bool {
	b.bgMu.Lock()
	defer b.bgMu.Unlock()
	if b.stopped {
		return false
	}
	b.running.Go(func() { fn(b.life) })
	return true
}

// startSweeper tidies every tidyInterval until Cleanup.
func (b *backend) startSweeper() {
	b.goBackground(func(ctx context.Context) {
		t := time.NewTicker(tidyInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.runTidy(ctx)
			}
		}
	})
}

// cleanup stops the background work and waits for it, so nothing touches
// the mount's storage once it is unmounted or the server seals.
func (b *backend) cleanup(context.Context) {
	b.bgMu.Lock()
	b.stopped = true
	b.bgMu.Unlock()
	b.endLife()
	b.running.Wait()
}
