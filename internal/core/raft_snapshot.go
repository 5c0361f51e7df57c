package core

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cofferhq/coffer/internal/autosnapshot"
	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/system"
)

// autoSnapshotPrefix is the barrier view of the automated snapshot
// configurations.
const autoSnapshotPrefix = "sys/raft-snapshot-auto/"

// sumsAD binds a snapshot's sealed checksums to their purpose.
const sumsAD = "core/raft-snapshot/SHA256SUMS"

// raftStorage is what snapshots need of integrated storage
// (physical/raft.Backend).
type raftStorage interface {
	WriteArchive(ctx context.Context, w io.Writer, seal func([]byte) ([]byte, error)) (raftstore.ArchiveMeta, error)
	PrepareRestore(ctx context.Context, r io.Reader, check func(key, value []byte) error) (*raftstore.PreparedRestore, error)
	IsLeader() bool
	OnRestore(fn func())
}

var _ raftStorage = (*raftstore.Backend)(nil)

// errRaftNotInUse is Vault's answer on the raft paths of a server whose
// storage is not raft.
var errRaftNotInUse = logical.InvalidRequest("raft storage is not in use")

// raftOf returns p as raft storage, or nil. Call it with the configured
// backend, before any wrapping.
func raftOf(p physical.Backend) raftStorage {
	if r, ok := p.(raftStorage); ok {
		return r
	}
	return nil
}

// isActive reports whether this node is the one that takes automated
// snapshots (and, later, runs the other active-only work): unsealed and
// raft leader. HA hook: the active/standby work should replace this with
// its own notion of the active node.
func (c *Core) isActive() bool {
	return c.raft != nil && c.state.Load() != nil && c.raft.IsLeader()
}

// newAutoSnapshots builds the automated snapshot manager; nil without raft.
func (c *Core) newAutoSnapshots() *autosnapshot.Manager {
	if c.raft == nil {
		return nil
	}
	return autosnapshot.New(logical.NewView(c.barrier, autoSnapshotPrefix), func(ctx context.Context, w io.Writer) error {
		_, err := c.writeSnapshot(ctx, w)
		return err
	}, c.isActive, c.conf.ProtectedPaths, c.logger.With("component", "autosnapshot"))
}

// runAutoSnapshots runs the automated snapshots while unsealed.
func (c *Core) runAutoSnapshots(ctx context.Context) {
	if c.autoSnap != nil {
		c.autoSnap.Run(ctx)
	}
}

// writeSnapshot writes a snapshot archive, its checksums sealed by the
// barrier.
func (c *Core) writeSnapshot(ctx context.Context, w io.Writer) (raftstore.ArchiveMeta, error) {
	return c.raft.WriteArchive(ctx, w, func(sums []byte) ([]byte, error) {
		return c.barrier.SealBytes(ctx, sumsAD, sums)
	})
}

// RaftSnapshot checks that a snapshot can be taken now and returns the
// function that streams it.
func (a sysAdapter) RaftSnapshot(context.Context) (func(ctx context.Context, w io.Writer) error, error) {
	if a.c.raft == nil {
		return nil, errRaftNotInUse
	}
	if _, err := a.active(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, w io.Writer) error {
		_, err := a.c.writeSnapshot(ctx, w)
		return err
	}, nil
}

// RestoreRaftSnapshot verifies the archive r completely, then replaces the
// cluster's data with it and reloads everything the core keeps from
// storage. Without force the snapshot's keyring must open with this
// cluster's unseal key. When the restored keyring does not open with the
// key held (a forced restore from another cluster) the node seals: it is
// then unsealed with the snapshot's keys.
func (a sysAdapter) RestoreRaftSnapshot(ctx context.Context, r io.Reader, force bool) error {
	c := a.c
	if c.raft == nil {
		return errRaftNotInUse
	}
	if _, err := a.active(); err != nil {
		return err
	}
	keyring := false
	check := func(key, value []byte) error {
		if string(key) != barrier.KeyringPath {
			return nil
		}
		keyring = true
		if force {
			return nil
		}
		err := c.barrier.CheckKeyring(value)
		if errors.Is(err, barrier.ErrBadKey) {
			return logical.InvalidRequest("the snapshot's keyring does not open with this cluster's unseal key: it was taken on another cluster, or before a rekey; use sys/storage/raft/snapshot-force (operator raft snapshot restore -force) to restore it anyway, after which the node is sealed and unseals with the snapshot's keys")
		}
		return err
	}
	p, err := c.raft.PrepareRestore(ctx, r, check)
	if errors.Is(err, raftstore.ErrBadSnapshot) {
		return logical.InvalidRequest("snapshot refused, nothing was changed: %s", err.Error())
	}
	if errors.Is(err, raftstore.ErrSnapshotTooLarge) {
		return logical.CodedError(logical.ErrTooLarge, "snapshot refused, nothing was changed: %s; raise max_snapshot_size in the storage \"raft\" block to restore a larger one", err.Error())
	}
	if err != nil {
		return err
	}
	defer p.Close()
	if !keyring {
		return logical.InvalidRequest("snapshot refused, nothing was changed: it holds no keyring (taken before the cluster was initialised?)")
	}
	// Losing leadership mid-restore is the operator's to retry on the
	// new leader: a 400 that says so, not an opaque 500.
	return raftError(c.applyRestore(context.WithoutCancel(ctx), p))
}

// applyRestore stops serving, applies p, and serves again from the
// restored data, or seals when its keyring does not open.
func (c *Core) applyRestore(ctx context.Context, p *raftstore.PreparedRestore) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if st := c.state.Swap(nil); st != nil {
		c.teardown(ctx, st)
	}
	err := p.Apply(ctx)
	switch {
	case errors.Is(err, raftstore.ErrRestoreUnconfirmed):
		// This node holds the snapshot's data but lost leadership before
		// the cluster confirmed it: serve what it holds now, and say so.
		c.logger.Warn("raft snapshot installed on this node but not confirmed by the cluster", "index", p.Meta.Index, "error", err.Error())
		if rerr := c.reloadRestored(ctx); rerr != nil {
			return errors.Join(fmt.Errorf("restore snapshot: %w", err), rerr)
		}
		return fmt.Errorf("restore snapshot: %w", err)
	case err != nil:
		// raft refused before changing anything (not the leader, shut
		// down): serve the data as it was.
		if uerr := c.postUnseal(ctx); uerr != nil {
			c.seal.Seal(ctx)
		}
		return fmt.Errorf("restore snapshot: %w", err)
	}
	c.logger.Info("raft snapshot restored", "index", p.Meta.Index, "keys", p.Meta.Keys)
	return c.reloadRestored(ctx)
}

// reloadRestored serves again from data a restore just replaced, or seals
// when the new keyring does not open with the unseal key held (nil then:
// the node unseals with the snapshot's keys); c.lifecycle must be held.
func (c *Core) reloadRestored(ctx context.Context) error {
	if err := c.barrier.ReloadKeyring(ctx); err != nil {
		c.seal.Seal(ctx)
		if errors.Is(err, barrier.ErrBadKey) {
			c.logger.Warn("the restored snapshot's keyring does not open with this node's unseal key: sealed; unseal with the snapshot's keys")
			return nil
		}
		return fmt.Errorf("reload keyring after restore: %w", err)
	}
	if err := c.postUnseal(ctx); err != nil {
		return err
	}
	c.reclaimLeadership(ctx)
	return nil
}

// reloadAfterRestore runs when raft replaced this node's data with a
// snapshot it did not restore itself (a follower installing the leader's
// restore): the unsealed state is rebuilt from the new data as after
// applyRestore, or the node seals when the new keyring does not open with
// its key. A sealed node has nothing to reload.
func (c *Core) reloadAfterRestore() {
	ctx := context.Background()
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	st := c.state.Swap(nil)
	if st == nil {
		return
	}
	c.teardown(ctx, st)
	if err := c.barrier.ReloadKeyring(ctx); err != nil {
		c.seal.Seal(ctx)
		c.logger.Warn("sealed: the keyring of the snapshot raft installed does not open with this node's unseal key", "error", err.Error())
		return
	}
	if err := c.postUnseal(ctx); err != nil {
		c.logger.Error("reload after a snapshot install failed; sealed", "error", err.Error())
	}
}

// AutoSnapshots returns the automated snapshot manager.
func (a sysAdapter) AutoSnapshots() (*autosnapshot.Manager, error) {
	if a.c.autoSnap == nil {
		return nil, errRaftNotInUse
	}
	if _, err := a.active(); err != nil {
		return nil, err
	}
	return a.c.autoSnap, nil
}

var _ system.RaftSnapshots = sysAdapter{}
