package raft

import (
	"context"
	"time"

	hraft "github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// delegate is autopilot's view of the application (its
// ApplicationIntegration): configuration, members and their reports.
type delegate struct{ b *Backend }

var _ autopilot.ApplicationIntegration = delegate{}

// AutopilotConfig gives autopilot the current configuration.
func (d delegate) AutopilotConfig() *autopilot.Config {
	d.b.pilot.mu.Lock()
	c := d.b.pilot.cfg
	d.b.pilot.mu.Unlock()
	return &autopilot.Config{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.LastContactThreshold,
		MaxTrailingLogs: c.MaxTrailingLogs, MinQuorum: c.MinQuorum, ServerStabilizationTime: c.ServerStabilizationTime,
	}
}

// NotifyState is called with each new state; GetState serves it.
func (delegate) NotifyState(*autopilot.State) {}

// FetchServerStats reports each member's last heartbeat, and the leader's
// own index and term.
func (d delegate) FetchServerStats(_ context.Context, _ map[hraft.ServerID]*autopilot.Server) map[hraft.ServerID]*autopilot.ServerStats {
	out := map[hraft.ServerID]*autopilot.ServerStats{}
	p := &d.b.pilot
	p.mu.Lock()
	now := time.Now()
	for id, f := range p.followers {
		if f.heard {
			out[hraft.ServerID(id)] = &autopilot.ServerStats{LastContact: now.Sub(f.last), LastTerm: f.term, LastIndex: f.applied}
		}
	}
	p.mu.Unlock()
	out[hraft.ServerID(d.b.nodeID)] = &autopilot.ServerStats{LastTerm: d.b.r().CurrentTerm(), LastIndex: d.b.r().LastIndex()}
	return out
}

// KnownServers lists the members of the raft configuration: the leader
// alive; every other member alive until it has been silent for the
// dead-server threshold (then "left", which cleanup removes). A member
// first seen now starts its clock now.
func (d delegate) KnownServers() map[hraft.ServerID]*autopilot.Server {
	fut := d.b.r().GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil
	}
	out := map[hraft.ServerID]*autopilot.Server{}
	p := &d.b.pilot
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range fut.Configuration().Servers {
		id := string(s.ID)
		srv := &autopilot.Server{ID: s.ID, Name: id, Address: s.Address, NodeStatus: autopilot.NodeAlive,
			RaftVersion: hraft.ProtocolVersionMax, NodeType: autopilot.NodeVoter}
		if id == d.b.nodeID {
			srv.IsLeader = true
			out[s.ID] = srv
			continue
		}
		f, ok := p.followers[id]
		if !ok {
			f = &follower{last: time.Now()}
			p.followers[id] = f
		}
		if f.dead {
			srv.NodeStatus = autopilot.NodeLeft
		}
		out[s.ID] = srv
	}
	return out
}

// RemoveFailedServer removes a dead member in the background (autopilot
// wants it to return at once) and forgets it.
func (d delegate) RemoveFailedServer(s *autopilot.Server) {
	id := string(s.ID)
	p := &d.b.pilot
	p.mu.Lock()
	if p.removing[id] {
		p.mu.Unlock()
		return
	}
	p.removing[id] = true
	p.mu.Unlock()
	go func() {
		defer func() {
			p.mu.Lock()
			delete(p.removing, id)
			p.mu.Unlock()
		}()
		d.b.hlog.Info("autopilot: removing dead server from the raft configuration", "id", id)
		if err := d.b.r().RemoveServer(s.ID, 0, 0).Error(); err != nil {
			d.b.hlog.Error("autopilot: remove dead server", "id", id, "error", err)
			return
		}
		p.mu.Lock()
		delete(p.followers, id)
		p.mu.Unlock()
	}()
}
