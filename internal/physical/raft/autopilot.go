package raft

import (
	"context"
	"sort"
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// Autopilot (hashicorp/raft-autopilot, as Vault's integrated storage uses
// it) runs on the leader only, between StartAutopilot and StopAutopilot:
// it keeps a health view of every member, promotes non-voters that stayed
// healthy for server_stabilization_time, and, with cleanup_dead_servers,
// removes voters that stopped reporting.
//
// Raft alone tells the leader nothing about a follower's progress, so the
// layer above reports each member's heartbeat (RecordHeartbeat: its applied
// index and term, which Coffer's standbys send with their echo to the
// active node every second). A member the leader has never heard from is
// given its thresholds from the moment the leader first sees it in the
// configuration, so a leader change does not make every follower dead.

// Default intervals of autopilot's loops (the library's).
const (
	defaultAutopilotUpdate    = 2 * time.Second
	defaultAutopilotReconcile = 10 * time.Second
)

// Heartbeat is one member's report to the leader.
type Heartbeat struct {
	NodeID       string
	AppliedIndex uint64
	Term         uint64
}

// follower is what the leader knows of one member.
type follower struct {
	applied, term uint64
	last          time.Time // last heartbeat, or when first seen
	heard         bool      // a heartbeat arrived
	dead          bool
}

// pilot is the Backend's autopilot; the zero value is stopped.
type pilot struct {
	mu        sync.Mutex
	ap        *autopilot.Autopilot // nil while stopped
	cancel    context.CancelFunc
	done      chan struct{}
	cfg       AutopilotConfig
	followers map[string]*follower
	removing  map[string]bool
	// update and reconcile are autopilot's intervals; 0 means the defaults.
	update, reconcile time.Duration
}

// StartAutopilot starts autopilot with cfg on this node, which should be
// the leader (the active server); it does nothing when already running.
// Safe for concurrent use.
func (b *Backend) StartAutopilot(ctx context.Context, cfg AutopilotConfig) {
	p := &b.pilot
	p.mu.Lock()
	p.cfg = cfg
	if p.ap != nil {
		p.mu.Unlock()
		return
	}
	p.followers, p.removing = map[string]*follower{}, map[string]bool{}
	update, reconcile := p.update, p.reconcile
	if update == 0 {
		update = defaultAutopilotUpdate
	}
	if reconcile == 0 {
		reconcile = defaultAutopilotReconcile
	}
	p.ap = autopilot.New(b.r(), delegate{b}, autopilot.WithLogger(b.hlog),
		autopilot.WithUpdateInterval(update), autopilot.WithReconcileInterval(reconcile))
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ap, done := p.ap, make(chan struct{})
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	// Start computes the first state at once, through the delegate, which
	// takes p.mu.
	ap.Start(runCtx)
	go b.trackDead(runCtx, done, update/2)
}

// StopAutopilot stops autopilot and forgets what it knew of the members;
// it waits for its loops to end. Safe to call when stopped.
func (b *Backend) StopAutopilot() {
	p := &b.pilot
	p.mu.Lock()
	ap, cancel, done := p.ap, p.cancel, p.done
	p.ap, p.cancel, p.done = nil, nil, nil
	p.mu.Unlock()
	if ap == nil {
		return
	}
	cancel()
	<-ap.Stop()
	<-done
}

// SetAutopilotConfig replaces the configuration autopilot runs with (and
// will start with). It does not validate: see AutopilotConfig.Validate.
func (b *Backend) SetAutopilotConfig(cfg AutopilotConfig) {
	b.pilot.mu.Lock()
	b.pilot.cfg = cfg
	b.pilot.mu.Unlock()
}

// AutopilotRunning reports whether autopilot runs on this node.
func (b *Backend) AutopilotRunning() bool {
	b.pilot.mu.Lock()
	defer b.pilot.mu.Unlock()
	return b.pilot.ap != nil
}

// RecordHeartbeat notes that member h.NodeID is alive at h's index and
// term; reports of nodes outside the configuration are ignored by
// autopilot. It does nothing while autopilot is stopped.
func (b *Backend) RecordHeartbeat(h Heartbeat) {
	p := &b.pilot
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ap == nil || h.NodeID == "" || h.NodeID == b.nodeID {
		return
	}
	p.followers[h.NodeID] = &follower{applied: h.AppliedIndex, term: h.Term, last: time.Now(), heard: true}
}

// trackDead marks members dead once they have not reported for the
// dead-server threshold (only with cleanup on), until ctx ends.
func (b *Backend) trackDead(ctx context.Context, done chan struct{}, every time.Duration) {
	defer close(done)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := &b.pilot
		p.mu.Lock()
		if p.cfg.CleanupDeadServers && p.cfg.DeadServerLastContactThreshold > 0 {
			for _, f := range p.followers {
				if !f.dead && time.Since(f.last) > p.cfg.DeadServerLastContactThreshold {
					f.dead = true
				}
			}
		}
		p.mu.Unlock()
	}
}

// AutopilotState is Vault's sys/storage/raft/autopilot/state.
type AutopilotState struct {
	Healthy          bool                        `json:"healthy"`
	FailureTolerance int                         `json:"failure_tolerance"`
	Servers          map[string]*AutopilotServer `json:"servers"`
	Leader           string                      `json:"leader"`
	Voters           []string                    `json:"voters"`
	NonVoters        []string                    `json:"non_voters,omitempty"`
}

// AutopilotServer is one member in AutopilotState.
type AutopilotServer struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Address     string    `json:"address"`
	NodeStatus  string    `json:"node_status"`
	LastContact string    `json:"last_contact"`
	LastTerm    uint64    `json:"last_term"`
	LastIndex   uint64    `json:"last_index"`
	Healthy     bool      `json:"healthy"`
	StableSince time.Time `json:"stable_since"`
	Status      string    `json:"status"`
	Version     string    `json:"version"`
	NodeType    string    `json:"node_type,omitempty"`
}

// AutopilotState returns autopilot's latest view, or nil when autopilot is
// not running or has not computed one yet.
func (b *Backend) AutopilotState() *AutopilotState {
	b.pilot.mu.Lock()
	ap := b.pilot.ap
	b.pilot.mu.Unlock()
	if ap == nil {
		return nil
	}
	st := ap.GetState()
	if st == nil || st.Leader == "" {
		return nil
	}
	out := &AutopilotState{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance, Leader: string(st.Leader),
		Servers: map[string]*AutopilotServer{}, Voters: []string{}}
	for _, id := range st.Voters {
		out.Voters = append(out.Voters, string(id))
	}
	for id, s := range st.Servers {
		out.Servers[string(id)] = &AutopilotServer{
			ID: string(id), Name: s.Server.Name, Address: string(s.Server.Address), NodeStatus: string(s.Server.NodeStatus),
			LastContact: s.Stats.LastContact.String(), LastTerm: s.Stats.LastTerm, LastIndex: s.Stats.LastIndex,
			Healthy: s.Health.Healthy, StableSince: s.Health.StableSince.UTC(), Status: string(s.State),
			Version: s.Server.Version, NodeType: string(s.Server.NodeType),
		}
		if s.State == autopilot.RaftNonVoter || s.State == autopilot.RaftStaging {
			out.NonVoters = append(out.NonVoters, string(id))
		}
	}
	sort.Strings(out.NonVoters)
	return out
}

// AddNonvoter adds a member without a vote; autopilot promotes it once it
// has stayed healthy for server_stabilization_time. It must be called on
// the leader.
func (b *Backend) AddNonvoter(ctx context.Context, id, addr string) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	return b.applyError(b.r().AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, applyTimeout(ctx)).Error())
}
