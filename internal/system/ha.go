package system

import (
	"context"
	"net/http"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// LeaderStatus is what sys/leader reports.
type LeaderStatus struct {
	HAEnabled bool
	// IsSelf is true on the active server.
	IsSelf bool
	// ActiveTime is when the active server became active (zero when none
	// is known).
	ActiveTime                          time.Time
	LeaderAddress, LeaderClusterAddress string
	// RaftCommittedIndex and RaftAppliedIndex are this node's, on raft
	// storage; zero otherwise.
	RaftCommittedIndex, RaftAppliedIndex uint64
}

// HANode is one server of an HA cluster, as sys/ha-status lists it.
type HANode struct {
	Hostname    string    `json:"hostname"`
	APIAddr     string    `json:"api_address"`
	ClusterAddr string    `json:"cluster_address"`
	Active      bool      `json:"active_node"`
	LastEcho    time.Time `json:"last_echo"`
	// RaftNodeID, RaftAppliedIndex and RaftTerm come with a standby's echo
	// on raft storage: the active node's autopilot heartbeat.
	RaftNodeID       string `json:"raft_node_id,omitempty"`
	RaftAppliedIndex uint64 `json:"raft_applied_index,omitempty"`
	RaftTerm         uint64 `json:"raft_term,omitempty"`
}

// HA is the active/standby state of the server; a Core that implements it
// gets sys/leader, sys/ha-status, sys/step-down and sys/health's standby
// codes filled in.
type HA interface {
	LeaderStatus() LeaderStatus
	// Standby reports whether the server is unsealed and standing by.
	Standby() bool
	// StepDown makes the active server give leadership up.
	StepDown(ctx context.Context) error
	// HANodes lists the active server, then the standbys it heard from.
	HANodes() []HANode
}

func (b *backend) haPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "ha-status",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.haStatus},
			Help:       "The servers of the HA cluster: the active one and the standbys that reported in.",
		},
		{
			Pattern:    "step-down",
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.stepDown},
			Help:       "Make the active server give up leadership so that a standby takes over.",
		},
	}
}

func (b *backend) ha() (HA, bool) {
	h, ok := b.core.(HA)
	return h, ok
}

func (b *backend) haStatus(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	nodes := []map[string]any{}
	if h, ok := b.ha(); ok {
		for _, n := range h.HANodes() {
			var echo any
			if !n.LastEcho.IsZero() {
				echo = n.LastEcho.Format(time.RFC3339Nano)
			}
			nodes = append(nodes, map[string]any{
				"hostname": n.Hostname, "api_address": n.APIAddr, "cluster_address": n.ClusterAddr,
				"active_node": n.Active, "last_echo": echo, "version": b.info.Version,
			})
		}
	}
	return &logical.Response{Data: map[string]any{"nodes": nodes}}, nil
}

func (b *backend) stepDown(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if h, ok := b.ha(); ok {
		if err := h.StepDown(ctx); err != nil {
			return nil, err
		}
	}
	return &logical.Response{RawStatus: http.StatusNoContent}, nil
}

func (b *backend) leader(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	var ls LeaderStatus
	if h, ok := b.ha(); ok {
		ls = h.LeaderStatus()
	}
	body := map[string]any{
		"ha_enabled": ls.HAEnabled, "is_self": ls.IsSelf, "active_time": ls.ActiveTime.Format(time.RFC3339Nano),
		"leader_address": ls.LeaderAddress, "leader_cluster_address": ls.LeaderClusterAddress,
		"performance_standby": false, "performance_standby_last_remote_wal": 0,
	}
	if ls.RaftCommittedIndex > 0 || ls.RaftAppliedIndex > 0 {
		body["raft_committed_index"], body["raft_applied_index"] = ls.RaftCommittedIndex, ls.RaftAppliedIndex
	}
	return &logical.Response{Raw: body}, nil
}

// standby reports whether the server stands by for another.
func (b *backend) standby() bool {
	h, ok := b.ha()
	return ok && h.Standby()
}
