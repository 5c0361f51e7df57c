package raft

import (
	"context"
	"fmt"

	hraft "github.com/hashicorp/raft"
)

// Server is one member of the cluster's raft configuration.
type Server struct {
	ID      string
	Address string
	Voter   bool
	Leader  bool
}

// Addr is the address this node is known by in the cluster: the cluster
// port's advertised address with a network transport, the node ID with the
// in-memory one.
func (b *Backend) Addr() string { return string(b.trans.LocalAddr()) }

// HasState reports whether this node has raft state: it bootstrapped a
// cluster or was added to one. A node without it may join a cluster.
func (b *Backend) HasState() (bool, error) {
	ok, err := hraft.HasExistingState(b.logs, b.logs, b.snaps)
	if err != nil {
		return false, fmt.Errorf("read raft state: %w", err)
	}
	return ok, nil
}

// Bootstrap makes a node without raft state the single voter of a new
// cluster, at Addr; it becomes leader after one election timeout (see
// WaitLeader). It fails on a node with state.
func (b *Backend) Bootstrap(ctx context.Context) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	cfg := hraft.Configuration{Servers: []hraft.Server{{ID: hraft.ServerID(b.nodeID), Address: b.trans.LocalAddr()}}}
	if err := b.r().BootstrapCluster(cfg).Error(); err != nil {
		return fmt.Errorf("bootstrap raft cluster: %w", err)
	}
	return nil
}

// RemoveServer removes a member; it must be called on the leader.
func (b *Backend) RemoveServer(ctx context.Context, id string) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	return b.applyError(b.r().RemoveServer(hraft.ServerID(id), 0, applyTimeout(ctx)).Error())
}

// Servers returns the latest raft configuration this node knows, with the
// leader it knows marked.
func (b *Backend) Servers(ctx context.Context) ([]Server, error) {
	if err := b.open(ctx); err != nil {
		return nil, err
	}
	fut := b.r().GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, b.applyError(err)
	}
	_, leader := b.r().LeaderWithID()
	var out []Server
	for _, s := range fut.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == hraft.Voter, Leader: s.ID == leader})
	}
	return out, nil
}

// FixAddress records Addr as this node's address in the cluster
// configuration when it differs, which happens when a single node that
// started without a cluster port gets one. It must be called on the
// leader and does nothing elsewhere.
func (b *Backend) FixAddress(ctx context.Context) error {
	if !b.IsLeader() {
		return nil
	}
	servers, err := b.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == b.nodeID && s.Address != b.Addr() && s.Voter {
			return b.AddVoter(ctx, b.nodeID, b.Addr())
		}
	}
	return nil
}
