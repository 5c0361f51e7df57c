package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/system"
)

// Storage keys of the mount tables inside the barrier, and the prefixes of
// each mount's own view.
const (
	secretsTableKey = "core/mounts"
	authTableKey    = "core/auth"
	secretsPrefix   = "logical/"
	authPrefix      = "auth/"
	tokenTypeName   = "token"
	systemTypeName  = "system"
)

// reservedSecretsPaths cannot be used for secrets engines.
var reservedSecretsPaths = []string{"sys/", "auth/", "cubbyhole/", "identity/"}

// builtinBackends are the backends that exist in every server and cannot be
// disabled: the sys/ backend and the token store.
type builtinBackends struct {
	sys    logical.Backend
	tokens logical.Backend
	// tokenStorage is the token store's own view.
	tokenStorage logical.Storage
}

// mountTable owns both mount tables: it persists them in the barrier, builds
// backends through the registry and keeps the router in step. Mutations are
// serialised; reads copy. Safe for concurrent use.
type mountTable struct {
	storage  logical.Storage
	router   *router.Router
	engines  map[string]logical.Factory
	auths    map[string]logical.Factory
	builtins builtinBackends
	logger   *slog.Logger
	defaults logical.StaticSystemView
	// revokeIssued revokes every token issued through a path prefix; called
	// when an auth method is disabled.
	revokeIssued func(ctx context.Context, prefix string) (int, error)
	// dropQuotas deletes the rate-limit quotas under a disabled mount.
	dropQuotas func(ctx context.Context, prefix string) (int, error)

	mu      sync.RWMutex
	entries map[system.Table][]*system.MountInfo
	live    map[string]logical.Backend // by router path
}

func tableKey(t system.Table) string {
	if t == system.AuthTable {
		return authTableKey
	}
	return secretsTableKey
}

// routePath is where a mount sits in the request path space.
func routePath(t system.Table, path string) string {
	if t == system.AuthTable {
		return "auth/" + path
	}
	return path
}

// load reads both tables, creating the built-in entries on first unseal,
// and mounts every backend. A mount whose type is unknown is logged and
// skipped, so one bad entry cannot keep the server sealed.
func (mt *mountTable) load(ctx context.Context) error {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	mt.entries = map[system.Table][]*system.MountInfo{}
	mt.live = map[string]logical.Backend{}
	for _, t := range []system.Table{system.SecretsTable, system.AuthTable} {
		var entries []*system.MountInfo
		found, err := logical.GetJSON(ctx, mt.storage, tableKey(t), &entries)
		if err != nil {
			return fmt.Errorf("load mount table %s: %w", t, err)
		}
		if !found {
			entries = []*system.MountInfo{newEntry(systemTypeName, "sys/", "system endpoints used for control, policy and debugging")}
			if t == system.AuthTable {
				entries = []*system.MountInfo{newEntry(tokenTypeName, "token/", "token based credentials")}
			}
			if err := logical.PutJSON(ctx, mt.storage, tableKey(t), entries); err != nil {
				return fmt.Errorf("create mount table %s: %w", t, err)
			}
		}
		mt.entries[t] = entries
		for _, e := range entries {
			if err := mt.mountLocked(ctx, t, e); err != nil {
				mt.logger.Error("mount skipped", "path", routePath(t, e.Path), "type", e.Type, "error", err.Error())
			}
		}
	}
	return nil
}

func newEntry(typ, path, desc string) *system.MountInfo {
	return &system.MountInfo{Path: path, Type: typ, Description: desc, UUID: uuid.NewString(), Accessor: accessorFor(typ)}
}

func accessorFor(typ string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ReplaceAll(typ, "-", "_") + "_" + hex.EncodeToString(b)
}

// mountLocked builds the backend for e and adds it to the router.
func (mt *mountTable) mountLocked(ctx context.Context, t system.Table, e *system.MountInfo) error {
	rp := routePath(t, e.Path)
	var backend logical.Backend
	var storage logical.Storage
	switch e.Type {
	case systemTypeName:
		backend = mt.builtins.sys
	case tokenTypeName:
		backend, storage = mt.builtins.tokens, mt.builtins.tokenStorage
	default:
		factories, prefix := mt.engines, secretsPrefix
		if t == system.AuthTable {
			factories, prefix = mt.auths, authPrefix
		}
		typ := e.Type
		if alias, ok := mountAliases[typ]; ok && t == system.SecretsTable {
			typ = alias
		}
		f, ok := factories[typ]
		if !ok {
			return logical.InvalidRequest("unknown %s type %q", kindName(t), e.Type)
		}
		storage = logical.NewView(mt.storage, prefix+e.UUID+"/")
		var err error
		backend, err = f(ctx, &logical.BackendConfig{
			Storage: storage, Logger: mt.logger.With("mount", rp), Options: e.Options, MountPath: rp,
			System: mountSystemView{mt: mt, table: t, path: e.Path},
		})
		if err != nil {
			return err
		}
	}
	mt.router.Mount(&router.Route{Path: rp, Type: e.Type, Accessor: e.Accessor, Backend: backend, Storage: storage})
	mt.live[rp] = backend
	return nil
}

func kindName(t system.Table) string {
	if t == system.AuthTable {
		return "auth method"
	}
	return "secrets engine"
}

// unload cleans up every backend (on seal).
func (mt *mountTable) unload(ctx context.Context) {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	for _, b := range mt.live {
		if c, ok := b.(logical.Cleaner); ok {
			c.Cleanup(ctx)
		}
	}
	mt.live = nil
	mt.router.Reset()
}

// ListMounts implements system.Mounts.
func (mt *mountTable) ListMounts(t system.Table) []system.MountInfo {
	mt.mu.RLock()
	defer mt.mu.RUnlock()
	out := make([]system.MountInfo, 0, len(mt.entries[t]))
	for _, e := range mt.entries[t] {
		m := *e
		m.DefaultLeaseTTL, m.MaxLeaseTTL = mt.effectiveTTLs(e)
		out = append(out, m)
	}
	return out
}

func (mt *mountTable) effectiveTTLs(e *system.MountInfo) (time.Duration, time.Duration) {
	def, max := e.DefaultLeaseTTL, e.MaxLeaseTTL
	if def == 0 {
		def = mt.defaults.DefaultTTL
	}
	if max == 0 {
		max = mt.defaults.MaxTTL
	}
	return def, max
}

// MountFor implements system.Mounts.
func (mt *mountTable) MountFor(path string) (system.MountInfo, bool) {
	r, _ := mt.router.Match(path)
	if r == nil {
		return system.MountInfo{}, false
	}
	t, rel := system.SecretsTable, r.Path
	if strings.HasPrefix(r.Path, "auth/") {
		t, rel = system.AuthTable, strings.TrimPrefix(r.Path, "auth/")
	}
	for _, m := range mt.ListMounts(t) {
		if m.Path == rel {
			m.Path = r.Path
			return m, true
		}
	}
	return system.MountInfo{}, false
}

// mountSystemView gives a backend its mount's live TTL settings.
type mountSystemView struct {
	mt    *mountTable
	table system.Table
	path  string
}

func (v mountSystemView) ttls() (time.Duration, time.Duration) {
	v.mt.mu.RLock()
	defer v.mt.mu.RUnlock()
	for _, e := range v.mt.entries[v.table] {
		if e.Path == v.path {
			return v.mt.effectiveTTLs(e)
		}
	}
	return v.mt.defaults.DefaultTTL, v.mt.defaults.MaxTTL
}

func (v mountSystemView) DefaultLeaseTTL() time.Duration { d, _ := v.ttls(); return d }
func (v mountSystemView) MaxLeaseTTL() time.Duration     { _, m := v.ttls(); return m }
