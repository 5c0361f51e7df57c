package system

import (
	"context"
	"errors"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
)

// RaftAutopilot is integrated storage's autopilot on the active node; the
// core implements it (found by type assertion). Every method answers a
// logical.ErrInvalidRequest error ("raft storage is not in use") when
// storage is not raft, and logical.ErrSealed while sealed.
type RaftAutopilot interface {
	// RaftAutopilotState returns nil until autopilot's first update.
	RaftAutopilotState(ctx context.Context) (*raftstore.AutopilotState, error)
	RaftAutopilotConfig(ctx context.Context) (raftstore.AutopilotConfig, error)
	// SetRaftAutopilotConfig refuses a configuration Validate refuses
	// with a logical.ErrInvalidRequest error.
	SetRaftAutopilotConfig(ctx context.Context, cfg raftstore.AutopilotConfig) error
}

// raftAutopilotSudoPaths need sudo, like the other raft endpoints that
// can change membership.
var raftAutopilotSudoPaths = []string{"storage/raft/autopilot/*"}

var autopilotFields = map[string]*framework.FieldSchema{
	"cleanup_dead_servers": {Type: framework.TypeBool, Description: "Remove voters that stopped reporting (needs min_quorum ≥ 3)."},
	"last_contact_threshold": {Type: framework.TypeDurationSecond,
		Description: `How long a member may go without reporting and stay healthy ("10s" or seconds).`},
	"dead_server_last_contact_threshold": {Type: framework.TypeDurationSecond,
		Description: `How long a member may go without reporting before cleanup removes it (at least "1m").`},
	"max_trailing_logs":         {Type: framework.TypeInt, Description: "How many entries a healthy member may lag the leader by."},
	"min_quorum":                {Type: framework.TypeInt, Description: "The fewest voters dead-server cleanup may leave."},
	"server_stabilization_time": {Type: framework.TypeDurationSecond, Description: "How long a new member stays healthy before it is promoted to voter."},
	"disable_upgrade_migration": {Type: framework.TypeBool, Description: "Vault Enterprise only; refused."},
}

func (b *backend) raftAutopilotPaths() []*framework.Path {
	ap, ok := b.core.(RaftAutopilot)
	if !ok {
		return nil
	}
	return []*framework.Path{
		{
			Pattern:    "storage/raft/autopilot/state",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: autopilotState(ap)},
			Help:       "The state of the raft cluster as autopilot on the active node sees it: health, failure tolerance, each member.",
		},
		{
			Pattern: "storage/raft/autopilot/configuration",
			Fields:  autopilotFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: autopilotConfig(ap), logical.UpdateOperation: setAutopilotConfig(ap),
			},
			Help: "Autopilot's configuration: dead-server cleanup, health thresholds, stabilization time of new members.",
		},
	}
}

func autopilotState(ap RaftAutopilot) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		st, err := ap.RaftAutopilotState(ctx)
		if err != nil || st == nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{
			"healthy": st.Healthy, "failure_tolerance": st.FailureTolerance, "leader": st.Leader,
			"voters": st.Voters, "non_voters": st.NonVoters, "servers": st.Servers,
		}}, nil
	}
}

func autopilotConfig(ap RaftAutopilot) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		cfg, err := ap.RaftAutopilotConfig(ctx)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{
			"cleanup_dead_servers": cfg.CleanupDeadServers, "last_contact_threshold": cfg.LastContactThreshold.String(),
			"dead_server_last_contact_threshold": cfg.DeadServerLastContactThreshold.String(),
			"max_trailing_logs":                  cfg.MaxTrailingLogs, "min_quorum": cfg.MinQuorum,
			"server_stabilization_time": cfg.ServerStabilizationTime.String(), "disable_upgrade_migration": false,
		}}, nil
	}
}

// setAutopilotConfig changes the fields the request sets, keeps the others.
func setAutopilotConfig(ap RaftAutopilot) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if d.Bool("disable_upgrade_migration") {
			return nil, logical.InvalidRequest("disable_upgrade_migration is only available in Vault Enterprise; Coffer does not run upgrade migrations")
		}
		cfg, err := ap.RaftAutopilotConfig(ctx)
		if err != nil {
			return nil, err
		}
		if v, ok := d.GetOk("cleanup_dead_servers"); ok {
			cfg.CleanupDeadServers = v.(bool)
		}
		durations := map[string]*time.Duration{
			"last_contact_threshold": &cfg.LastContactThreshold, "dead_server_last_contact_threshold": &cfg.DeadServerLastContactThreshold,
			"server_stabilization_time": &cfg.ServerStabilizationTime,
		}
		for name, to := range durations {
			if v, ok := d.GetOk(name); ok {
				*to = v.(time.Duration)
			}
		}
		if v, ok := d.GetOk("max_trailing_logs"); ok {
			if v.(int) < 1 {
				return nil, logical.InvalidRequest("max_trailing_logs must be a positive number of log entries")
			}
			cfg.MaxTrailingLogs = uint64(v.(int))
		}
		if v, ok := d.GetOk("min_quorum"); ok {
			if v.(int) < 0 {
				return nil, logical.InvalidRequest("min_quorum must not be negative")
			}
			cfg.MinQuorum = uint(v.(int))
		}
		err = ap.SetRaftAutopilotConfig(ctx, cfg)
		if errors.Is(err, raftstore.ErrAutopilotConfig) {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
		return nil, err
	}
}
