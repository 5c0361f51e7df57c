package core

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/system"
)

// Autopilot runs on the active node only: activate starts it on raft
// storage with the configuration from the barrier, teardown stops it, so
// leadership changes and seals move it with the rest of the active state.
// Standbys feed it through their echoes (RecordEcho), which carry their
// raft node ID, applied index and term.

// autopilotConfigKey holds the operator's autopilot configuration in the
// barrier (Vault's path), so it survives restarts and leader changes.
const autopilotConfigKey = "core/raft/autopilot/configuration"

// autopilotNode is raft storage's autopilot (physical/raft.Backend).
type autopilotNode interface {
	StartAutopilot(ctx context.Context, cfg raftstore.AutopilotConfig)
	StopAutopilot()
	SetAutopilotConfig(cfg raftstore.AutopilotConfig)
	AutopilotState() *raftstore.AutopilotState
	RecordHeartbeat(h raftstore.Heartbeat)
}

// heartbeatSource is what a standby on raft storage reports of itself.
type heartbeatSource interface {
	NodeID() string
	Indexes() (committed, applied uint64)
	Term() uint64
}

var (
	_ autopilotNode   = (*raftstore.Backend)(nil)
	_ heartbeatSource = (*raftstore.Backend)(nil)
)

// nonvoterAdder is raft storage that can add a member without a vote and
// runs autopilot, which promotes it.
type nonvoterAdder interface {
	AutopilotRunning() bool
	AddNonvoter(ctx context.Context, id, addr string) error
}

var _ nonvoterAdder = (*raftstore.Backend)(nil)

// addMember adds a joining node as Vault does: a non-voter when autopilot
// runs here (it becomes a voter after server_stabilization_time of good
// health, so a node still catching up never counts in the quorum), else
// a voter at once. It reports which.
func addMember(ctx context.Context, r RaftNode, id, addr string) (voter bool, err error) {
	if n, ok := r.(nonvoterAdder); ok && n.AutopilotRunning() {
		return false, n.AddNonvoter(ctx, id, addr)
	}
	return true, r.AddVoter(ctx, id, addr)
}

// autopilot returns the raft storage's autopilot, or nil on other storage.
func (c *Core) autopilot() autopilotNode {
	ap, _ := c.raft.(autopilotNode)
	return ap
}

// loadAutopilotConfig reads the stored configuration over the defaults.
func (c *Core) loadAutopilotConfig(ctx context.Context) (raftstore.AutopilotConfig, error) {
	cfg := raftstore.DefaultAutopilotConfig()
	if _, err := logical.GetJSON(ctx, c.barrier, autopilotConfigKey, &cfg); err != nil {
		return cfg, fmt.Errorf("read autopilot configuration: %w", err)
	}
	return cfg, nil
}

// startAutopilot starts autopilot on an active node of raft storage. A
// configuration that cannot be read is logged and the defaults are used,
// as Vault does: autopilot's state is worth more than a failed unseal.
func (c *Core) startAutopilot(ctx context.Context) {
	ap := c.autopilot()
	if ap == nil {
		return
	}
	cfg, err := c.loadAutopilotConfig(ctx)
	if err != nil {
		c.logger.Error("autopilot starts with the default configuration", "error", err.Error())
	}
	ap.StartAutopilot(ctx, cfg)
}

// stopAutopilot stops autopilot when the node stops being active.
func (c *Core) stopAutopilot() {
	if ap := c.autopilot(); ap != nil {
		ap.StopAutopilot()
	}
}

// recordHeartbeat hands a standby's echo to autopilot.
func (c *Core) recordHeartbeat(n HANode) {
	ap := c.autopilot()
	if ap == nil || n.RaftNodeID == "" || c.state.Load() == nil {
		return
	}
	ap.RecordHeartbeat(raftstore.Heartbeat{NodeID: n.RaftNodeID, AppliedIndex: n.RaftAppliedIndex, Term: n.RaftTerm})
}

// withRaftProgress adds this node's raft ID, applied index and term to
// its echo, on raft storage.
func (c *Core) withRaftProgress(n HANode) HANode {
	if hs, ok := c.raft.(heartbeatSource); ok {
		_, applied := hs.Indexes()
		n.RaftNodeID, n.RaftAppliedIndex, n.RaftTerm = hs.NodeID(), applied, hs.Term()
	}
	return n
}

// autopilotActive returns autopilot on an active node of raft storage.
func (c *Core) autopilotActive() (autopilotNode, error) {
	ap := c.autopilot()
	if ap == nil {
		return nil, errRaftNotInUse
	}
	if c.state.Load() == nil {
		return nil, logical.ErrSealed
	}
	return ap, nil
}

// RaftAutopilotState is autopilot's view of the cluster; nil until its
// first update after this node became active.
func (c *Core) RaftAutopilotState(context.Context) (*raftstore.AutopilotState, error) {
	ap, err := c.autopilotActive()
	if err != nil {
		return nil, err
	}
	return ap.AutopilotState(), nil
}

// RaftAutopilotConfig is the configuration autopilot runs with.
func (c *Core) RaftAutopilotConfig(ctx context.Context) (raftstore.AutopilotConfig, error) {
	if _, err := c.autopilotActive(); err != nil {
		return raftstore.AutopilotConfig{}, err
	}
	return c.loadAutopilotConfig(ctx)
}

// SetRaftAutopilotConfig validates cfg (a 400 naming the setting to
// change), stores it and hands it to the running autopilot.
func (c *Core) SetRaftAutopilotConfig(ctx context.Context, cfg raftstore.AutopilotConfig) error {
	ap, err := c.autopilotActive()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return logical.InvalidRequest("%s", err.Error())
	}
	if err := logical.PutJSON(ctx, c.barrier, autopilotConfigKey, cfg); err != nil {
		return fmt.Errorf("store autopilot configuration: %w", err)
	}
	ap.SetAutopilotConfig(cfg)
	c.logger.Info("autopilot configuration updated", "cleanup_dead_servers", cfg.CleanupDeadServers, "min_quorum", cfg.MinQuorum)
	return nil
}

// The sys/ backend finds autopilot on the adapter (system.RaftAutopilot).
var _ system.RaftAutopilot = sysAdapter{}

func (a sysAdapter) RaftAutopilotState(ctx context.Context) (*raftstore.AutopilotState, error) {
	return a.c.RaftAutopilotState(ctx)
}

func (a sysAdapter) RaftAutopilotConfig(ctx context.Context) (raftstore.AutopilotConfig, error) {
	return a.c.RaftAutopilotConfig(ctx)
}

func (a sysAdapter) SetRaftAutopilotConfig(ctx context.Context, cfg raftstore.AutopilotConfig) error {
	return a.c.SetRaftAutopilotConfig(ctx, cfg)
}
