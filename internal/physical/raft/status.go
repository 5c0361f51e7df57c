package raft

import (
	"context"
	"fmt"
	"io"
	"time"

	hraft "github.com/hashicorp/raft"
)

// NodeID is this node's ID in the cluster.
func (b *Backend) NodeID() string { return b.nodeID }

// IsLeader reports whether this node is the raft leader now.
func (b *Backend) IsLeader() bool { return b.r().State() == hraft.Leader }

// Leader returns the ID and address of the leader this node knows of, or
// empty strings when it knows none.
func (b *Backend) Leader() (id, addr string) {
	a, i := b.r().LeaderWithID()
	return string(i), string(a)
}

// Indexes returns raft's committed index and the index of the last entry
// applied to this node's state machine.
func (b *Backend) Indexes() (committed, applied uint64) {
	return b.r().CommitIndex(), b.r().AppliedIndex()
}

// WaitLeader waits until some node, this one or another, is known as
// leader, and returns its ID; it fails when ctx ends first.
func (b *Backend) WaitLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := b.Leader(); id != "" {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for a raft leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Barrier waits until every entry committed before it has been applied to
// this node's state machine, so reads see all of them (operator migrate
// reads a raft source only after it). It must be called on the leader.
func (b *Backend) Barrier(ctx context.Context) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	return b.applyError(b.r().Barrier(applyTimeout(ctx)).Error())
}

// AddVoter adds a voting member; it must be called on the leader. It is the
// step joining will build on (joins are not implemented yet).
func (b *Backend) AddVoter(ctx context.Context, id, addr string) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	return b.applyError(b.r().AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, applyTimeout(ctx)).Error())
}

// Snapshot writes a consistent snapshot of this node's state machine to w,
// in the format ReadSnapshot verifies (barrier ciphertext, with a checksum).
func (b *Backend) Snapshot(ctx context.Context, w io.Writer) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	snap, err := b.fsm.Snapshot()
	if err != nil {
		return err
	}
	defer snap.Release()
	if _, err := writeSnapshot(snap.(*fsmSnapshot).tx, w); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// Term is raft's current term on this node.
func (b *Backend) Term() uint64 { return b.r().CurrentTerm() }
