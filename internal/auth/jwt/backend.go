package jwt

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

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
	// verifierOptions are added to every jwtverify.Config built from the
	// stored config; tests set a clock there.
	verifierOptions func(*jwtverify.Config)

	// state is the config with its verifier, loaded on first use and
	// replaced by every config write; nil until then.
	state atomic.Pointer[configState]
	// loadMu serialises loading the state from storage and writing the
	// config, so a login never rebuilds over a fresher write.
	loadMu sync.Mutex
	// roles are the mount's roles, cached for logins.
	roles *roles.Store[role]
}

// configState is the stored config and the verifier built from it.
type configState struct {
	cfg      *config
	verifier *jwtverify.Verifier
}

// Factory builds a jwt backend for a mount of type "jwt" or "oidc". It
// keeps the config and roles in conf.Storage, serves login unauthenticated
// and returns ErrNoStorage when conf has no storage.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	return newBackend(conf).framework(), nil
}

func newBackend(conf *logical.BackendConfig) *backend {
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
		roles:           newRoleStore(conf.Storage),
		verifierOptions: func(*jwtverify.Config) {},
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
