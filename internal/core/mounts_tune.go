package core

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// Tune implements system.Mounts. Settings the core reads per request (TTLs,
// passed-through headers) take effect with the next request; a change of
// options rebuilds the backend, and KV version 1 → 2 converts the data in
// the same transaction as the mount table.
func (mt *mountTable) Tune(ctx context.Context, t system.Table, path string, tn system.Tune) ([]string, error) {
	mt.ops.Lock()
	defer mt.ops.Unlock()
	_, i, err := mt.mustFindLocked(t, path)
	if err != nil {
		return nil, err
	}
	old := mt.entries[t][i]
	e := *old
	for _, edit := range tn.Edits {
		if err := edit(&e); err != nil {
			return nil, err
		}
	}
	// As in Vault, only two explicit values can conflict; a maximum below
	// the server's default caps the mount's effective default instead.
	if e.DefaultLeaseTTL > 0 && e.MaxLeaseTTL > 0 && e.DefaultLeaseTTL > e.MaxLeaseTTL {
		return nil, logical.InvalidRequest("backend max lease TTL of %d would be less than backend default lease TTL of %d",
			int64(e.MaxLeaseTTL.Seconds()), int64(e.DefaultLeaseTTL.Seconds()))
	}
	if maps.Equal(old.Options, e.Options) {
		return nil, mt.commitTune(ctx, t, i, &e, nil, nil, nil)
	}
	if builtinType(e.Type) {
		return nil, logical.InvalidRequest("the options of the built-in %q mount cannot be changed", routePath(t, e.Path))
	}
	from, to, err := versionChange(t, old, &e)
	if err != nil {
		return nil, err
	}
	if from == 1 && to == 2 {
		return mt.upgrade(ctx, t, i, &e)
	}
	return nil, mt.rebuild(ctx, t, i, &e)
}

// versionChange checks a change of options.version as Vault does: only KV
// has versions, 1 and 2, and a mount never goes back from 2 to 1. It
// returns the old and new versions, both 0 when the version is unchanged.
func versionChange(t system.Table, old, next *system.MountInfo) (int, int, error) {
	ov, nv := old.Options["version"], next.Options["version"]
	if ov == nv {
		return 0, 0, nil
	}
	if t != system.SecretsTable || !isKV(next.Type) {
		return 0, 0, logical.InvalidRequest("%s %q does not allow setting a version", kindName(t), next.Type)
	}
	from := 1 // a generic mount, or kv before versions were recorded
	if ov != "" {
		n, err := strconv.Atoi(ov)
		if err != nil {
			return 0, 0, fmt.Errorf("stored KV version %q of %s: %w", ov, routePath(t, old.Path), err)
		}
		from = n
	}
	to, err := strconv.Atoi(nv)
	if err != nil || (to != 1 && to != 2) {
		return 0, 0, logical.InvalidRequest("invalid version provided: %q; KV has versions 1 and 2", nv)
	}
	if to < from {
		return 0, 0, logical.InvalidRequest("cannot downgrade mount from version %d", from)
	}
	return from, to, nil
}

// commitTune persists e as entry i of table t (with extra writes in the
// same transaction) and puts it in force: the router serves backend over
// storage (the current ones when backend is nil) with e's settings. The
// caller holds ops.
func (mt *mountTable) commitTune(ctx context.Context, t system.Table, i int, e *system.MountInfo, backend logical.Backend, storage logical.Storage, extra []logical.TxnOp) error {
	next := slices.Clone(mt.entries[t])
	next[i] = e
	if err := mt.writeTable(ctx, t, next, extra...); err != nil {
		return err
	}
	mt.mu.Lock()
	mt.entries[t] = next
	if g, ok := backend.(*gatedBackend); ok {
		mt.live[routePath(t, e.Path)] = g
	}
	mt.mu.Unlock()
	if cur := mt.router.Get(routePath(t, e.Path)); backend == nil && cur != nil {
		backend, storage = cur.Backend, cur.Storage
	}
	mt.router.Mount(mt.route(t, e, backend, storage))
	return nil
}

// rebuild serves entry i with a backend built anew for e's options. The
// new backend is built before anything is written, so options its factory
// refuses change nothing; requests that reached the old backend finish
// there, later ones go to the new one.
func (mt *mountTable) rebuild(ctx context.Context, t system.Table, i int, e *system.MountInfo) error {
	backend, storage, err := mt.build(ctx, t, e)
	if err != nil {
		return err
	}
	rp := routePath(t, e.Path)
	old := mt.live[rp]
	if err := mt.commitTune(ctx, t, i, e, backend, storage, nil); err != nil {
		retire(ctx, backend, nil)
		return err
	}
	if old != nil {
		old.retire(ctx, backend)
	}
	mt.logger.InfoContext(ctx, "rebuilt a backend with new options", "path", rp)
	return nil
}

// upgrade converts a KV version 1 mount to version 2 in place. While it
// runs the mount answers with Vault's "upgrading" message; it waits for the
// requests already on the old backend, so no write can slip past the
// conversion, which is written in one transaction with the mount table.
// On any failure the mount serves its version 1 data again, unchanged.
func (mt *mountTable) upgrade(ctx context.Context, t system.Table, i int, e *system.MountInfo) ([]string, error) {
	rp := routePath(t, e.Path)
	prev := mt.entries[t][i]
	hold := gate(upgrading{})
	cur := mt.router.Get(rp)
	old := mt.live[rp]
	mt.router.Mount(mt.route(t, prev, hold, cur.Storage))
	mt.mu.Lock()
	mt.live[rp] = hold
	mt.mu.Unlock()
	if old != nil {
		old.retire(ctx, hold)
	}

	backend, storage, err := mt.build(ctx, t, e)
	var ops []logical.TxnOp
	if err == nil {
		if up, ok := backend.(*gatedBackend).inner.(logical.StorageUpgrader); ok {
			ops, err = up.UpgradeOps(ctx, storage, prev.Options)
		}
	}
	if err == nil {
		abs := make([]logical.TxnOp, len(ops))
		for j, op := range ops {
			abs[j] = logical.TxnOp{Delete: op.Delete, Entry: &logical.StorageEntry{Key: dataPrefix(t, e) + op.Entry.Key, Value: op.Entry.Value}}
		}
		err = mt.commitTune(ctx, t, i, e, backend, storage, abs)
	}
	if err != nil {
		retire(ctx, backend, nil)
		mt.restore(ctx, t, prev, hold)
		return nil, err
	}
	hold.retire(ctx, backend)
	n := 0
	for _, op := range ops {
		if op.Delete {
			n++ // one old key per converted secret
		}
	}
	mt.logger.InfoContext(ctx, "upgraded a KV mount to version 2", "path", rp, "secrets", n)
	return []string{fmt.Sprintf("Upgraded the mount at %s from version 1 to version 2: %d secrets now keep versions.", rp, n)}, nil
}

// restore serves prev again with a fresh backend after a failed upgrade.
func (mt *mountTable) restore(ctx context.Context, t system.Table, prev *system.MountInfo, hold *gatedBackend) {
	backend, storage, err := mt.build(ctx, t, prev)
	if err != nil {
		// The factory took these options before; leave the mount answering
		// "upgrading" rather than unserved, and say why.
		mt.logger.ErrorContext(ctx, "could not restore a mount after a failed upgrade", "path", routePath(t, prev.Path), "error", err.Error())
		return
	}
	mt.mu.Lock()
	mt.live[routePath(t, prev.Path)] = backend.(*gatedBackend)
	mt.mu.Unlock()
	mt.router.Mount(mt.route(t, prev, backend, storage))
	hold.retire(ctx, backend)
}
