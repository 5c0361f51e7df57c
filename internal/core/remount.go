package core

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// remountKey holds the move in progress, written in the same transaction as
// the mount table that moves the mount and deleted once everything held
// under the old path follows it; an unseal finishes a move a crash cut short.
const remountKey = "core/remount"

// pathMover re-keys what one part of the server holds under a mount's route
// path when the mount moves (sys/remount): the tokens an auth method issued,
// the quotas on the path, and later the leases. move rewrites everything
// under from (a route path such as "auth/userpass/") to the same place under
// to and returns how many things it rewrote. It must be idempotent, since an
// unseal runs it again for a move a crash interrupted.
type pathMover struct {
	name string
	move func(ctx context.Context, from, to string) (int, error)
}

// pendingMove is the record at remountKey.
type pendingMove struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Paths a secrets engine cannot be moved from or to, and auth methods that
// cannot be moved, as in Vault.
var (
	protectedMounts = []string{"audit/", "auth/", "sys/", "cubbyhole/", "identity/"}
	protectedAuths  = []string{"auth/token"}
)

// remountPaths checks a move's paths as a user gave them and returns its
// table and the mount paths (relative to that table) of source and
// destination.
func remountPaths(from, to string) (system.Table, string, string, error) {
	if from == "" || to == "" {
		return "", "", "", logical.InvalidRequest("both 'from' and 'to' path must be specified as a string")
	}
	for name, p := range map[string]string{"from": from, "to": to} {
		if p != strings.TrimSpace(p) {
			return "", "", "", logical.InvalidRequest("'%s' path cannot contain trailing whitespace", name)
		}
	}
	src, err := cleanMountPath(from)
	if err != nil {
		return "", "", "", err
	}
	dst, err := cleanMountPath(to)
	if err != nil {
		return "", "", "", logical.InvalidRequest("invalid destination mount: %v", err)
	}
	protected, t := protectedMounts, system.SecretsTable
	if strings.HasPrefix(src, "auth/") {
		if !strings.HasPrefix(dst, "auth/") {
			return "", "", "", logical.InvalidRequest("cannot remount auth mount to non-auth mount %q", dst)
		}
		protected, t = protectedAuths, system.AuthTable
	}
	for _, p := range protected {
		if strings.HasPrefix(src, p) {
			return "", "", "", logical.InvalidRequest("cannot remount %q", src)
		}
		if strings.HasPrefix(dst, p) {
			return "", "", "", logical.InvalidRequest("cannot remount to destination %q", dst)
		}
	}
	if t == system.AuthTable {
		src, dst = strings.TrimPrefix(src, "auth/"), strings.TrimPrefix(dst, "auth/")
		if src == "" || dst == "" {
			return "", "", "", logical.InvalidRequest("name the auth method to move and where to, such as auth/userpass and auth/people")
		}
	}
	return t, src, dst, nil
}

// Remount implements system.Remounter. The move is done when it returns:
// the mount table entry (whose data is keyed by its UUID, so the data goes
// with it) and the route move in one step, then every pathMover re-keys
// what it holds. Requests already on the old path finish there first;
// later ones find nothing at the old path.
func (mt *mountTable) Remount(ctx context.Context, from, to string) (string, error) {
	t, src, dst, err := remountPaths(from, to)
	if err != nil {
		return "", err
	}
	mt.ops.Lock()
	defer mt.ops.Unlock()
	_, i, err := mt.findLocked(t, src)
	if err != nil {
		return "", err
	}
	if i < 0 {
		return "", logical.InvalidRequest("no matching mount at %q", routePath(t, src))
	}
	if in := mt.conflict(t, dst, ""); in != "" {
		return "", logical.InvalidRequest("path already in use at %q", in)
	}
	e := *mt.entries[t][i]
	e.Path = dst
	backend, storage, err := mt.build(ctx, t, &e) // a backend that knows its new path
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	srcRP, dstRP := routePath(t, src), routePath(t, dst)
	mt.migrations.set(id, system.MigrationInfo{SourceMount: srcRP, TargetMount: dstRP, Status: system.MigrationInProgress})
	log := mt.logger.With("migration_id", id, "from_path", srcRP, "to_path", dstRP)
	log.Info("moving a mount")
	if err := mt.move(ctx, t, i, &e, backend, storage); err != nil {
		mt.migrations.set(id, system.MigrationInfo{SourceMount: srcRP, TargetMount: dstRP, Status: system.MigrationFailure})
		log.Error("mount move failed", "error", err.Error())
		return "", err
	}
	mt.migrations.set(id, system.MigrationInfo{SourceMount: srcRP, TargetMount: dstRP, Status: system.MigrationSuccess})
	log.Info("mount moved")
	return id, nil
}

// move makes e (entry i of table t with its new path) and backend current,
// retires the backend at the old path and lets the movers follow.
func (mt *mountTable) move(ctx context.Context, t system.Table, i int, e *system.MountInfo, backend logical.Backend, storage logical.Storage) error {
	srcRP, dstRP := routePath(t, mt.entries[t][i].Path), routePath(t, e.Path)
	pending, err := logical.JSONEntry(remountKey, pendingMove{From: srcRP, To: dstRP})
	if err != nil {
		return err
	}
	next := append(mt.entries[t][:0:0], mt.entries[t]...)
	next[i] = e
	mt.mu.RLock()
	old := mt.live[srcRP]
	mt.mu.RUnlock()
	if old != nil {
		// A request still making a secret registers its lease at the old
		// path before the leases move, not after, when no mount serves it.
		old.drain(true)
	}
	if err := mt.writeTable(ctx, t, next, logical.TxnOp{Entry: pending}); err != nil {
		if old != nil {
			old.drain(false)
		}
		retire(ctx, backend, nil)
		return err
	}
	mt.mu.Lock()
	mt.entries[t] = next
	delete(mt.live, srcRP)
	if g, ok := backend.(*gatedBackend); ok {
		mt.live[dstRP] = g
	}
	mt.mu.Unlock()
	mt.router.Mount(mt.route(t, e, backend, storage))
	mt.router.Unmount(srcRP)
	if old != nil {
		old.retire(ctx, nil)
	}
	return mt.finishMove(ctx, srcRP, dstRP)
}

// finishMove runs every pathMover for a move whose table is written, then
// forgets the move.
func (mt *mountTable) finishMove(ctx context.Context, from, to string) error {
	for _, m := range mt.movers {
		n, err := m.move(ctx, from, to)
		if err != nil {
			return fmt.Errorf("move the %s under %s to %s: %w", m.name, from, to, err)
		}
		if n > 0 {
			mt.logger.Info("moved with its mount", "what", m.name, "count", n, "from_path", from, "to_path", to)
		}
	}
	if err := mt.storage.Delete(ctx, remountKey); err != nil {
		return fmt.Errorf("finish the move of %s: %w", from, err)
	}
	return nil
}

// resumeMove finishes a move that a crash or seal cut short after its table
// was written. A failure is logged, not fatal: the next unseal tries again.
func (mt *mountTable) resumeMove(ctx context.Context) {
	mt.ops.Lock()
	defer mt.ops.Unlock()
	var p pendingMove
	found, err := logical.GetJSON(ctx, mt.storage, remountKey, &p)
	if err == nil && found {
		mt.logger.Info("finishing an interrupted mount move", "from_path", p.From, "to_path", p.To)
		err = mt.finishMove(ctx, p.From, p.To)
	}
	if err != nil {
		mt.logger.Error("could not finish an interrupted mount move", "error", err.Error())
	}
}

// RemountStatus implements system.Remounter.
func (mt *mountTable) RemountStatus(id string) (system.MigrationInfo, bool) {
	return mt.migrations.get(id)
}

// maxMigrations bounds how many moves sys/remount/status remembers.
const maxMigrations = 256

// migrations remembers recent moves for sys/remount/status, in memory only,
// as Vault does: the oldest are forgotten first. Safe for concurrent use.
type migrations struct {
	mu    sync.Mutex
	byID  map[string]system.MigrationInfo
	order []string
}

func (m *migrations) set(id string, info system.MigrationInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = map[string]system.MigrationInfo{}
	}
	if _, ok := m.byID[id]; !ok {
		m.order = append(m.order, id)
		if len(m.order) > maxMigrations {
			delete(m.byID, m.order[0])
			m.order = m.order[1:]
		}
	}
	m.byID[id] = info
}

func (m *migrations) get(id string) (system.MigrationInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.byID[id]
	return info, ok
}
