package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cofferhq/coffer/internal/physical"
)

// Leadership through raft (physical.HABackend): the raft leader is the
// active server. A node that wins an election first waits until it has
// applied every entry of earlier terms (raft's Barrier), so the active
// server never serves from a state machine behind the cluster, then writes
// the lock record below through the log. Standbys read the record from
// their own state machine: it names the raft node that wrote it, so a
// record left by a former leader is never taken for the current one.

// lockKey holds the lock record, in physical storage (outside the
// barrier, which reserves no name under core/ for it but never lists core/).
const lockKey = "core/lock"

// haPoll is how often leadership is re-checked besides raft's observations.
const haPoll = 50 * time.Millisecond

// lockRecord is the value stored at lockKey.
type lockRecord struct {
	Node  string `json:"node"`
	Value string `json:"value"`
}

// haState is the campaign held, if any.
type haState struct {
	mu   sync.Mutex // serialises campaigns; guards held
	held bool
}

var (
	_ physical.HABackend   = (*Backend)(nil)
	_ physical.HAReclaimer = (*Backend)(nil)
)

// HAEnabled reports true: integrated storage always elects one active node.
func (b *Backend) HAEnabled() bool { return true }

// Campaign waits until this node is the raft leader with every earlier entry
// applied, records value as the leader's, and returns a channel closed once
// this node stops being leader (or the backend closes).
func (b *Backend) Campaign(ctx context.Context, value string) (<-chan struct{}, error) {
	b.ha.mu.Lock()
	defer b.ha.mu.Unlock()
	if b.ha.held {
		return nil, errors.New("raft: a campaign already holds leadership")
	}
	obs := make(chan hraft.Observation, 8)
	o := hraft.NewObserver(obs, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.RaftState:
			return true
		}
		return false
	})
	b.r().RegisterObserver(o)
	defer b.r().DeregisterObserver(o)
	for {
		if err := b.open(ctx); err != nil {
			return nil, err
		}
		if b.IsLeader() {
			lost, err := b.claim(ctx, value)
			if err == nil {
				return lost, nil
			}
			if !errors.Is(err, ErrNotLeader) {
				return nil, err
			}
		}
		t := time.NewTimer(haPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-b.closed:
			t.Stop()
			return nil, ErrClosed
		case <-obs:
		case <-t.C:
		}
		t.Stop()
	}
}

// Reclaim writes the lock record again for this leader with value: a
// snapshot restore brings back the record of the snapshot's time, which
// names the leader of then (or an old value), and standbys would know no
// active node until the next election. It fails with ErrNotLeader on a
// follower.
func (b *Backend) Reclaim(ctx context.Context, value string) error {
	if !b.IsLeader() {
		return ErrNotLeader
	}
	rec, err := json.Marshal(lockRecord{Node: b.nodeID, Value: value})
	if err != nil {
		return err
	}
	return b.Put(ctx, &physical.Entry{Key: lockKey, Value: rec})
}

// claim runs on a new leader: barrier, record, then the watcher.
func (b *Backend) claim(ctx context.Context, value string) (<-chan struct{}, error) {
	if err := b.applyError(b.r().Barrier(applyTimeout(ctx)).Error()); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(lockRecord{Node: b.nodeID, Value: value})
	if err != nil {
		return nil, err
	}
	if err := b.Put(ctx, &physical.Entry{Key: lockKey, Value: rec}); err != nil {
		return nil, err
	}
	lost := make(chan struct{})
	b.ha.held = true
	go b.watchLeadership(lost)
	return lost, nil
}

// watchLeadership closes lost as soon as this node is no longer leader or
// the backend closes.
func (b *Backend) watchLeadership(lost chan struct{}) {
	obs := make(chan hraft.Observation, 8)
	o := hraft.NewObserver(obs, false, func(o *hraft.Observation) bool {
		_, ok := o.Data.(hraft.RaftState)
		return ok
	})
	b.r().RegisterObserver(o)
	defer b.r().DeregisterObserver(o)
	defer func() {
		b.ha.mu.Lock()
		b.ha.held = false
		b.ha.mu.Unlock()
		close(lost)
	}()
	t := time.NewTicker(haPoll)
	defer t.Stop()
	for b.IsLeader() {
		select {
		case <-b.closed:
			return
		case <-obs:
		case <-t.C:
		}
	}
}

// Resign hands leadership to another voter (raft's leadership transfer)
// when this node leads; with no other voter it fails and this node stays
// leader.
func (b *Backend) Resign(ctx context.Context) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	if !b.IsLeader() {
		return nil
	}
	if err := b.r().LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("raft leadership transfer: %w", err)
	}
	return nil
}

// LeaderValue returns the value recorded by the current raft leader; held is
// false while no leader is known or the leader has not recorded its value
// yet (it has just been elected).
func (b *Backend) LeaderValue(ctx context.Context) (string, bool, error) {
	id, _ := b.Leader()
	if id == "" {
		return "", false, nil
	}
	e, err := b.Get(ctx, lockKey)
	if err != nil || e == nil {
		return "", false, err
	}
	var rec lockRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return "", false, fmt.Errorf("read raft lock record: %w", err)
	}
	if rec.Node != id {
		return "", false, nil
	}
	return rec.Value, true, nil
}
