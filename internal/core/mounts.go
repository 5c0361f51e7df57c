package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
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
	secretsTableKey   = "core/mounts"
	authTableKey      = "core/auth"
	secretsPrefix     = "logical/"
	authPrefix        = "auth/"
	tokenTypeName     = "token"
	systemTypeName    = "system"
	cubbyholeTypeName = "cubbyhole"
	identityTypeName  = "identity"
)

// builtinType reports whether typ is a backend every server has, which can
// be neither mounted again nor disabled nor given options: sys/,
// cubbyhole/, identity/ and auth/token/.
func builtinType(typ string) bool {
	return typ == systemTypeName || typ == tokenTypeName || typ == cubbyholeTypeName || typ == identityTypeName
}

// identityEntry is the identity/ mount, which Vault always has. Stores
// created before Coffer had it get it at their next unseal.
func identityEntry() *system.MountInfo {
	return newEntry(identityTypeName, "identity/", "identity store")
}

// reservedSecretsPaths cannot be used for secrets engines.
var reservedSecretsPaths = []string{"sys/", "auth/", "cubbyhole/", "identity/"}

// builtinBackends are the backends that exist in every server and cannot be
// disabled: the sys/ backend, the token store, the cubbyholes and the
// identity store.
type builtinBackends struct {
	sys      logical.Backend
	tokens   logical.Backend
	identity logical.Backend
	// tokenStorage is the token store's own view.
	tokenStorage logical.Storage
	// cubbyhole serves cubbyhole/ over cubbyholeStorage.
	cubbyhole        logical.Backend
	cubbyholeStorage logical.Storage
}

// mountTable owns both mount tables: it persists them in the barrier, builds
// backends through the registry and keeps the router in step. Safe for
// concurrent use.
//
// Two locks: ops serialises every change to the tables (enable, disable,
// tune, remount) for its whole length, including waiting for requests to
// leave a backend being replaced and re-keying what other parts hold under
// a moved path; requests never take it. mu guards entries and live and is
// only ever held briefly, never while waiting for a request, since requests
// read the tables (a mount's TTLs) through it.
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
	// revokeLeases revokes every lease under a mount's route path before
	// it is disabled; an error keeps the mount.
	revokeLeases func(ctx context.Context, prefix string) error
	// movers re-key what other parts hold under a mount's route path when
	// the mount moves (sys/remount); see pathMover.
	movers []pathMover

	ops sync.Mutex

	mu      sync.RWMutex
	entries map[system.Table][]*system.MountInfo
	live    map[string]*gatedBackend // factory-built backends, by router path

	migrations migrations
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
	mt.live = map[string]*gatedBackend{}
	for _, t := range []system.Table{system.SecretsTable, system.AuthTable} {
		var entries []*system.MountInfo
		found, err := logical.GetJSON(ctx, mt.storage, tableKey(t), &entries)
		if err != nil {
			return fmt.Errorf("load mount table %s: %w", t, err)
		}
		changed := !found
		if !found {
			entries = []*system.MountInfo{newEntry(systemTypeName, "sys/", "system endpoints used for control, policy and debugging")}
			if t == system.AuthTable {
				entries = []*system.MountInfo{newEntry(tokenTypeName, "token/", "token based credentials")}
			}
		}
		if t == system.SecretsTable && !slices.ContainsFunc(entries, func(e *system.MountInfo) bool { return e.Type == identityTypeName }) {
			entries, changed = append(entries, identityEntry()), true
		}
		if changed {
			if err := logical.PutJSON(ctx, mt.storage, tableKey(t), entries); err != nil {
				return fmt.Errorf("create mount table %s: %w", t, err)
			}
		}
		if entries, err = mt.addCubbyhole(ctx, t, entries); err != nil {
			return err
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

// addCubbyhole adds the cubbyhole/ mount to a secrets table that lacks it
// (a new one, or one written before cubbyholes existed) and persists it.
func (mt *mountTable) addCubbyhole(ctx context.Context, t system.Table, entries []*system.MountInfo) ([]*system.MountInfo, error) {
	if t != system.SecretsTable || mt.builtins.cubbyhole == nil {
		return entries, nil
	}
	for _, e := range entries {
		if e.Type == cubbyholeTypeName {
			return entries, nil
		}
	}
	e := newEntry(cubbyholeTypeName, "cubbyhole/", "per-token private secret storage")
	e.Local = true
	entries = append(entries, e)
	if err := logical.PutJSON(ctx, mt.storage, tableKey(t), entries); err != nil {
		return nil, fmt.Errorf("add cubbyhole/ to mount table %s: %w", t, err)
	}
	return entries, nil
}

func newEntry(typ, path, desc string) *system.MountInfo {
	return &system.MountInfo{Path: path, Type: typ, Description: desc, UUID: uuid.NewString(), Accessor: accessorFor(typ)}
}

func accessorFor(typ string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ReplaceAll(typ, "-", "_") + "_" + hex.EncodeToString(b)
}

// mountLocked builds the backend for e and adds it to the router. The
// caller holds mt.mu (or is the only user, as load is).
func (mt *mountTable) mountLocked(ctx context.Context, t system.Table, e *system.MountInfo) error {
	backend, storage, err := mt.build(ctx, t, e)
	if err != nil {
		return err
	}
	if g, ok := backend.(*gatedBackend); ok {
		mt.live[routePath(t, e.Path)] = g
	}
	mt.router.Mount(mt.route(t, e, backend, storage))
	return nil
}

// build returns the backend of e and its storage: the built-in backend for
// the sys and token mounts, else a new one from e's factory, gated.
func (mt *mountTable) build(ctx context.Context, t system.Table, e *system.MountInfo) (logical.Backend, logical.Storage, error) {
	switch e.Type {
	case systemTypeName:
		return mt.builtins.sys, nil, nil
	case tokenTypeName:
		return mt.builtins.tokens, mt.builtins.tokenStorage, nil
	case cubbyholeTypeName:
		if mt.builtins.cubbyhole != nil {
			return mt.builtins.cubbyhole, mt.builtins.cubbyholeStorage, nil
		}
	case identityTypeName:
		if t == system.SecretsTable {
			return mt.builtins.identity, nil, nil
		}
	}
	factories := mt.engines
	if t == system.AuthTable {
		factories = mt.auths
	}
	typ := e.Type
	if alias, ok := mountAliases[typ]; ok && t == system.SecretsTable {
		typ = alias
	}
	f, ok := factories[typ]
	if !ok {
		return nil, nil, logical.InvalidRequest("unknown %s type %q", kindName(t), e.Type)
	}
	storage := logical.NewView(mt.storage, dataPrefix(t, e))
	rp := routePath(t, e.Path)
	backend, err := f(ctx, &logical.BackendConfig{
		Storage: storage, Logger: mt.logger.With("mount", rp), Options: e.Options, MountPath: rp, MountUUID: e.UUID,
		System: mountSystemView{mt: mt, table: t, uuid: e.UUID},
	})
	if err != nil {
		return nil, nil, err
	}
	return gate(backend), storage, nil
}

// dataPrefix is where e's backend keeps its data in the barrier: by UUID,
// so the data stays put when the mount moves.
func dataPrefix(t system.Table, e *system.MountInfo) string {
	if t == system.AuthTable {
		return authPrefix + e.UUID + "/"
	}
	return secretsPrefix + e.UUID + "/"
}

// route is the router's entry for e served by backend.
func (mt *mountTable) route(t system.Table, e *system.MountInfo, backend logical.Backend, storage logical.Storage) *router.Route {
	return &router.Route{
		Path: routePath(t, e.Path), Type: e.Type, Accessor: e.Accessor, Backend: backend, Storage: storage,
		PassthroughHeaders:      e.PassthroughRequestHeaders,
		AuditNonHMACRequestKeys: e.AuditNonHMACRequestKeys, AuditNonHMACResponseKeys: e.AuditNonHMACResponseKeys,
	}
}

func kindName(t system.Table) string {
	if t == system.AuthTable {
		return "auth method"
	}
	return "secrets engine"
}

// unload retires every backend (on seal), waiting for the requests they
// are serving; what reaches one later is told the server is sealed.
func (mt *mountTable) unload(ctx context.Context) {
	mt.ops.Lock()
	defer mt.ops.Unlock()
	mt.mu.Lock()
	live := mt.live
	mt.live = map[string]*gatedBackend{}
	mt.mu.Unlock()
	mt.router.Reset()
	for _, g := range live {
		g.retire(ctx, sealed{})
	}
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

// effectiveTTLs are e's TTLs with the server's defaults where e sets none.
// A default above the maximum (a mount tuned to a maximum below the
// server's default, which Vault allows) is capped at the maximum, as every
// lease would be.
func (mt *mountTable) effectiveTTLs(e *system.MountInfo) (time.Duration, time.Duration) {
	def, max := e.DefaultLeaseTTL, e.MaxLeaseTTL
	if def == 0 {
		def = mt.defaults.DefaultTTL
	}
	if max == 0 {
		max = mt.defaults.MaxTTL
	}
	return min(def, max), max
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

// mountSystemView gives a backend its mount's live TTL settings. It finds
// the mount by UUID, which a move does not change.
type mountSystemView struct {
	mt    *mountTable
	table system.Table
	uuid  string
}

func (v mountSystemView) ttls() (time.Duration, time.Duration) {
	v.mt.mu.RLock()
	defer v.mt.mu.RUnlock()
	for _, e := range v.mt.entries[v.table] {
		if e.UUID == v.uuid {
			return v.mt.effectiveTTLs(e)
		}
	}
	return v.mt.defaults.DefaultTTL, v.mt.defaults.MaxTTL
}

func (v mountSystemView) DefaultLeaseTTL() time.Duration { d, _ := v.ttls(); return d }
func (v mountSystemView) MaxLeaseTTL() time.Duration     { _, m := v.ttls(); return m }
