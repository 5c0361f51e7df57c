package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// cleanMountPath validates a user-supplied mount path and returns it with
// exactly one trailing slash.
func cleanMountPath(p string) (string, error) {
	if p != strings.TrimSpace(p) {
		// Never rewrite a name after authorisation: " secret" must not
		// reach what a policy on "secret" denies.
		return "", logical.InvalidRequest("mount path %q has surrounding white space", p)
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", logical.InvalidRequest("mount path must not be empty")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", logical.InvalidRequest("mount path %q has an empty, \".\" or \"..\" segment", p)
		}
	}
	if strings.ContainsAny(p, "*+") || strings.ContainsFunc(p, unprintable) || !utf8.ValidString(p) {
		return "", logical.InvalidRequest("mount path %q must not contain '*', '+', white space or control characters", p)
	}
	return p + "/", nil
}

// unprintable reports the runes a mount path must not hold: white space of
// any script and control characters. A request path can never carry a
// control character (logical.CleanPath refuses it), so a mount whose path
// came from a body (sys/remount's "to") with one would be unreachable and
// would break what re-keys by path, such as lease IDs.
func unprintable(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// mountAliases maps old engine type names onto the factory that serves them,
// as Vault's do: a "generic" mount is KV version 1 and keeps its type name.
var mountAliases = map[string]string{"generic": "kv"}

// isKV reports whether an engine type is served by the KV engine.
func isKV(typ string) bool { return typ == "kv" || mountAliases[typ] == "kv" }

// normaliseType maps the CLI's kv-v1/kv-v2 shorthands onto kv with a
// version, and refuses a version for any other engine, as Vault does.
func normaliseType(m *system.MountInfo) error {
	if m.Type != "kv" && m.Type != "kv-v1" && m.Type != "kv-v2" && m.Options["version"] != "" {
		return logical.InvalidRequest("secrets engine %q does not allow setting a version", m.Type)
	}
	switch m.Type {
	case "kv-v1", "kv-v2":
		if m.Options == nil {
			m.Options = map[string]string{}
		}
		m.Options["version"] = m.Type[4:]
		m.Type = "kv"
	case "kv":
		if m.Options == nil || m.Options["version"] == "" {
			if m.Options == nil {
				m.Options = map[string]string{}
			}
			m.Options["version"] = "1"
		}
	}
	return nil
}

// Enable implements system.Mounts.
func (mt *mountTable) Enable(ctx context.Context, t system.Table, m system.MountInfo) error {
	path, err := cleanMountPath(m.Path)
	if err != nil {
		return err
	}
	if t == system.SecretsTable {
		for _, r := range reservedSecretsPaths {
			if strings.HasPrefix(path, r) {
				return logical.InvalidRequest("cannot mount at %q: the %q prefix is reserved", path, r)
			}
		}
	}
	if builtinType(m.Type) {
		return logical.InvalidRequest("a %q backend cannot be mounted again", m.Type)
	}
	if m.DefaultLeaseTTL > 0 && m.MaxLeaseTTL > 0 && m.DefaultLeaseTTL > m.MaxLeaseTTL {
		return logical.InvalidRequest("default_lease_ttl must not exceed max_lease_ttl")
	}
	if t == system.SecretsTable {
		if err := normaliseType(&m); err != nil {
			return err
		}
	}
	mt.ops.Lock()
	defer mt.ops.Unlock()
	if in := mt.conflict(t, path, ""); in != "" {
		return logical.InvalidRequest("path is already in use at %s", in)
	}
	fresh := newEntry(m.Type, path, m.Description)
	m.Path, m.UUID, m.Accessor = path, fresh.UUID, fresh.Accessor
	e := &m
	backend, storage, err := mt.build(ctx, t, e)
	if err != nil {
		return err
	}
	next := append(slices.Clone(mt.entries[t]), e)
	if err := mt.writeTable(ctx, t, next); err != nil {
		retire(ctx, backend, nil)
		return err
	}
	mt.mu.Lock()
	mt.entries[t] = next
	if g, ok := backend.(*gatedBackend); ok {
		mt.live[routePath(t, path)] = g
	}
	mt.mu.Unlock()
	mt.router.Mount(mt.route(t, e, backend, storage))
	return nil
}

// conflict returns the route path of a mount in table t that path would
// overlap (the same path, one above it or one below it), ignoring the
// mount with UUID except; "" when there is none. The caller holds ops.
func (mt *mountTable) conflict(t system.Table, path, except string) string {
	for _, e := range mt.entries[t] {
		if e.UUID != except && (strings.HasPrefix(path, e.Path) || strings.HasPrefix(e.Path, path)) {
			return routePath(t, e.Path)
		}
	}
	return ""
}

// writeTable persists table t as next, together with extra writes in the
// same transaction.
func (mt *mountTable) writeTable(ctx context.Context, t system.Table, next []*system.MountInfo, extra ...logical.TxnOp) error {
	ent, err := logical.JSONEntry(tableKey(t), next)
	if err != nil {
		return err
	}
	if err := logical.ApplyTxn(ctx, mt.storage, append(extra, logical.TxnOp{Entry: ent})); err != nil {
		return fmt.Errorf("persist mount table: %w", err)
	}
	return nil
}

// retire retires backend when it is gated (the built-in ones never are).
func retire(ctx context.Context, backend, next logical.Backend) {
	if g, ok := backend.(*gatedBackend); ok {
		g.retire(ctx, next)
	}
}

// findLocked cleans a mount path as a user gave it and returns it with its
// index in table t, -1 when nothing is mounted there. The caller holds ops.
func (mt *mountTable) findLocked(t system.Table, userPath string) (string, int, error) {
	path, err := cleanMountPath(userPath)
	if err != nil {
		return "", 0, err
	}
	return path, slices.IndexFunc(mt.entries[t], func(e *system.MountInfo) bool { return e.Path == path }), nil
}

// mustFindLocked is findLocked for operations that need the mount to exist.
func (mt *mountTable) mustFindLocked(t system.Table, userPath string) (string, int, error) {
	path, i, err := mt.findLocked(t, userPath)
	if err == nil && i < 0 {
		err = logical.InvalidRequest("no mount at %q", routePath(t, path))
	}
	return path, i, err
}

// disableLocked revokes the leases of the mount at index i of table t,
// while the backend that can revoke them is still there (a failure keeps
// the mount), and removes it from the table. The caller holds ops.
func (mt *mountTable) disableLocked(ctx context.Context, t system.Table, rp string, i int) error {
	if mt.revokeLeases != nil {
		if err := mt.revokeLeases(ctx, rp); err != nil {
			return err
		}
	}
	next := slices.Delete(slices.Clone(mt.entries[t]), i, i+1)
	if err := mt.writeTable(ctx, t, next); err != nil {
		return err
	}
	mt.mu.Lock()
	mt.entries[t] = next
	mt.mu.Unlock()
	return nil
}

// Disable implements system.Mounts: it removes the mount and deletes all
// the data stored under it. Disabling a path where nothing is mounted
// succeeds and does nothing, as in Vault, so teardown code can run twice.
func (mt *mountTable) Disable(ctx context.Context, t system.Table, path string) error {
	mt.ops.Lock()
	defer mt.ops.Unlock()
	path, i, err := mt.findLocked(t, path)
	if err != nil || i < 0 {
		return err
	}
	e := mt.entries[t][i]
	if builtinType(e.Type) {
		return logical.InvalidRequest("cannot disable the built-in %q mount", routePath(t, path))
	}
	rp := routePath(t, path)
	mt.mu.RLock()
	g := mt.live[rp]
	mt.mu.RUnlock()
	if g != nil {
		// No request still making a secret may register its lease
		// after the leases are revoked below.
		g.drain(true)
	}
	if err := mt.disableLocked(ctx, t, rp, i); err != nil {
		if g != nil {
			g.drain(false)
		}
		return err
	}
	mt.mu.Lock()
	delete(mt.live, rp)
	mt.mu.Unlock()
	mt.router.Unmount(rp)
	if g != nil {
		g.retire(ctx, nil)
	}
	if t == system.AuthTable && mt.revokeIssued != nil {
		// As in Vault, the logins an auth method granted end with it.
		n, err := mt.revokeIssued(ctx, rp)
		if err != nil {
			return fmt.Errorf("revoke tokens issued by %s: %w", rp, err)
		}
		mt.logger.InfoContext(ctx, "revoked the tokens of a disabled auth method", "path", rp, "tokens", n)
	}
	if mt.dropQuotas != nil {
		// A quota naming a mount that is gone would bind a future mount
		// of the same name by surprise; Vault deletes them too.
		if _, err := mt.dropQuotas(ctx, rp); err != nil {
			return fmt.Errorf("delete quotas of %s: %w", rp, err)
		}
	}
	if err := logical.ClearPrefix(ctx, mt.storage, dataPrefix(t, e)); err != nil {
		return fmt.Errorf("delete data of %s: %w", rp, err)
	}
	return nil
}
