package raft

import (
	"context"
	"errors"
	"fmt"
	"time"

	hraft "github.com/hashicorp/raft"
)

// OpenInmemCluster starts one node per directory, connected over raft's
// in-memory transport within this process, with timing scaled down (a
// 500 ms unit, performance multiplier 1): node 0 bootstraps and the others
// are added as voters by the leader. Autopilot, when started, updates its
// state every 200 ms and reconciles every 500 ms. It is for tests of the layers above
// storage (the core's active/standby); the caller closes every node.
func OpenInmemCluster(ctx context.Context, dirs []string) ([]*Backend, error) {
	var (
		nodes []*Backend
		trans []*hraft.InmemTransport
	)
	fail := func(err error) ([]*Backend, error) {
		for _, b := range nodes {
			_ = b.Close()
		}
		return nil, err
	}
	for i, dir := range dirs {
		addr, tr := hraft.NewInmemTransport(hraft.ServerAddress(fmt.Sprintf("node%d", i)))
		for _, other := range trans {
			tr.Connect(other.LocalAddr(), other)
			other.Connect(addr, tr)
		}
		trans = append(trans, tr)
		b, err := Open(Config{Path: dir, NodeID: string(addr), Transport: tr, NoBootstrap: i > 0,
			PerformanceMultiplier: 1, baseTimeout: 500 * time.Millisecond,
			autopilotUpdate: 200 * time.Millisecond, autopilotReconcile: 500 * time.Millisecond})
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, b)
		if i == 0 {
			if _, err := b.WaitLeader(ctx); err != nil {
				return fail(err)
			}
			continue
		}
		if err := addVoterOnLeader(ctx, nodes, string(addr)); err != nil {
			return fail(err)
		}
	}
	return nodes, nil
}

// addVoterOnLeader adds id through whichever node leads, retrying while
// leadership moves.
func addVoterOnLeader(ctx context.Context, nodes []*Backend, id string) error {
	for {
		for _, b := range nodes {
			if b.IsLeader() {
				err := b.AddVoter(ctx, id, id)
				if err == nil || !errors.Is(err, ErrNotLeader) {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("add voter %s: %w", id, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
