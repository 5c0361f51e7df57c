package kubernetes

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/auth/roles"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

// backend is one mount's state. Safe for concurrent use.
type backend struct {
	storage logical.Storage
	logger  *slog.Logger
	system  logical.SystemView
	limit   *loginlimit.Limiter
	now     func() time.Time
	// localToken and localCA are the pod's own service-account token and
	// CA (under DefaultLocalDir unless a test points elsewhere).
	localToken *localFile
	localCA    *localFile
	// verifierOptions are added to every jwtverify.Config the backend
	// builds; tests set a clock or refresh interval there.
	verifierOptions func(*jwtverify.Config)

	// state is the config with what was built from it, loaded on first use
	// and replaced by every config write; nil until then.
	state atomic.Pointer[configState]
	// loadMu serialises loading the state and writing the config, so a
	// login never rebuilds over a fresher write.
	loadMu sync.Mutex
	// roles are the mount's roles, cached for logins.
	roles *roles.Store[role]
}

// Factory builds a kubernetes backend. It keeps the config and roles in
// conf.Storage, serves login unauthenticated, and returns ErrNoStorage when
// conf has no storage.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	return newBackend(conf, DefaultLocalDir).framework(), nil
}

// newBackend builds the backend; localDir is where the pod's own
// service-account files are looked for.
func newBackend(conf *logical.BackendConfig, localDir string) *backend {
	logger := conf.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	system := conf.System
	if system == nil {
		system = logical.StaticSystemView{}
	}
	return &backend{
		storage: conf.Storage, logger: logger, system: system,
		limit:           loginlimit.New(loginlimit.Config{}),
		now:             time.Now,
		localToken:      newLocalFile(localDir, "token", time.Now),
		localCA:         newLocalFile(localDir, "ca.crt", time.Now),
		verifierOptions: func(*jwtverify.Config) {},
		roles:           newRoleStore(conf.Storage),
	}
}

func (b *backend) framework() *framework.Backend {
	var paths []*framework.Path
	paths = append(paths, b.configPaths()...)
	paths = append(paths, b.rolePaths()...)
	paths = append(paths, b.loginPaths()...)
	return &framework.Backend{
		Paths:     paths,
		Special:   &logical.Paths{Unauthenticated: []string{"login"}},
		AuthRenew: b.renewAuth,
	}
}
