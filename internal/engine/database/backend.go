package database

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/engine/database/mysql"
	"github.com/cofferhq/coffer/internal/engine/database/postgres"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Plugins maps every plugin_name the engine accepts to its driver: Vault's
// built-in names for PostgreSQL and MySQL, the mysql-aurora, mysql-rds and
// mysql-legacy names being MySQL with Vault's shorter legacy usernames.
func Plugins() map[string]dbdriver.Plugin {
	return map[string]dbdriver.Plugin{
		"postgresql-database-plugin":   postgres.Plugin,
		"mysql-database-plugin":        mysql.Plugin,
		"mysql-aurora-database-plugin": mysql.LegacyPlugin,
		"mysql-rds-database-plugin":    mysql.LegacyPlugin,
		"mysql-legacy-database-plugin": mysql.LegacyPlugin,
	}
}

// Storage layout of a mount.
const (
	configPrefix = "config/"
	rolePrefix   = "role/"
	// staticRolePrefix is where static roles (static-roles/<name>) live.
	staticRolePrefix = "static-role/"
	orphanPrefix     = "orphan/"
)

// backend is one mount's state: its storage and one connection pool per
// config. Safe for concurrent use.
type backend struct {
	storage logical.Storage
	logger  *slog.Logger
	system  logical.SystemView
	plugins map[string]dbdriver.Plugin
	now     func() time.Time
	// creds is the leased secret creds/<role> answers with.
	creds *framework.Secret

	// configMu serialises the writers of configs (write, delete,
	// rotate-root, reset), so that storage and the pool agree. Never call
	// withConn holding it: opening a pool may take it.
	configMu sync.Mutex
	// mu guards conns and gen; gen counts config changes, so that a pool
	// opened from a config read before a change is not kept after it.
	mu    sync.Mutex
	conns map[string]*conn
	gen   uint64

	// stop ends the background retry of orphaned users; done is closed
	// when it has ended.
	stop context.CancelFunc
	done chan struct{}

	// static is shared with other backends of the same mount; mountUUID
	// names it, released once by cleanup.
	static      *mountShared
	mountUUID   string
	releaseOnce sync.Once
	// sched rotates static roles as they come due.
	sched *scheduler
}

// Factory builds a database secrets engine for a mount. It keeps configs
// and roles in conf.Storage, opens connection pools lazily, and returns a
// *framework.Backend that is safe for concurrent use and whose Cleanup
// closes every pool. It returns ErrNoStorage when conf has no storage.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	b := newBackend(conf, Plugins())
	b.startOrphanSweeper()
	b.sched.start(context.Background())
	return b.framework(), nil
}

func newBackend(conf *logical.BackendConfig, plugins map[string]dbdriver.Plugin) *backend {
	logger := conf.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sys := conf.System
	if sys == nil {
		sys = logical.StaticSystemView{DefaultTTL: 768 * time.Hour, MaxTTL: 768 * time.Hour}
	}
	b := &backend{
		storage: conf.Storage, logger: logger, system: sys, plugins: plugins, now: time.Now,
		conns: map[string]*conn{},
	}
	b.creds = b.newCredsSecret()
	b.sched = newScheduler(b)
	b.mountUUID = conf.MountUUID
	b.static = acquireShared(conf.MountUUID)
	return b
}

func (b *backend) framework() *framework.Backend {
	var paths []*framework.Path
	paths = append(paths, b.configPaths()...)
	paths = append(paths, b.rolePaths()...)
	paths = append(paths, b.credsPaths()...)
	paths = append(paths, b.rotatePaths()...)
	paths = append(paths, b.staticRolePaths()...)
	paths = append(paths, b.staticCredsPaths()...)
	return &framework.Backend{
		Paths:           paths,
		Secrets:         []*framework.Secret{b.creds},
		Clean:           b.cleanup,
		BackgroundStart: b.sched.start,
		BackgroundStop:  b.sched.stop,
	}
}

// cleanup stops background work and closes every pool: the mount is being
// disabled or the server sealed.
func (b *backend) cleanup(context.Context) {
	b.sched.stop()
	b.releaseOnce.Do(func() { releaseShared(b.mountUUID) })
	if b.stop != nil {
		b.stop()
		<-b.done
	}
	b.mu.Lock()
	conns := b.conns
	b.conns = map[string]*conn{}
	b.gen++
	b.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}
