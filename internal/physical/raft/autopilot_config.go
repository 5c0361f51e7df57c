package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AutopilotConfig tunes autopilot (Vault's sys/storage/raft/autopilot/
// configuration). The zero value is not useful: start from
// DefaultAutopilotConfig.
type AutopilotConfig struct {
	// CleanupDeadServers removes voters that stopped reporting for
	// DeadServerLastContactThreshold, as long as MinQuorum voters remain.
	CleanupDeadServers bool
	// LastContactThreshold is how long a member may go without reporting
	// before it counts as unhealthy.
	LastContactThreshold time.Duration
	// DeadServerLastContactThreshold is how long a member may go without
	// reporting before it counts as dead (only with CleanupDeadServers).
	DeadServerLastContactThreshold time.Duration
	// MaxTrailingLogs is how many entries a member may lag the leader by
	// and still be healthy.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest voters dead-server cleanup may leave.
	MinQuorum uint
	// ServerStabilizationTime is how long a new member must stay healthy
	// before it is promoted to voter.
	ServerStabilizationTime time.Duration
}

// DefaultAutopilotConfig is Vault's default autopilot configuration.
func DefaultAutopilotConfig() AutopilotConfig {
	return AutopilotConfig{
		LastContactThreshold:           10 * time.Second,
		DeadServerLastContactThreshold: 24 * time.Hour,
		MaxTrailingLogs:                1000,
		ServerStabilizationTime:        10 * time.Second,
	}
}

// MinDeadServerThreshold is the shortest dead_server_last_contact_threshold
// Validate accepts with cleanup on (Vault's floor): a shorter one would
// remove a member that is merely restarting.
const MinDeadServerThreshold = time.Minute

// ErrAutopilotConfig is wrapped by every refusal of Validate; the message
// says which setting to change.
var ErrAutopilotConfig = errors.New("invalid autopilot configuration")

// Validate applies Vault's rules to a configuration an operator asks for:
// cleanup needs min_quorum of at least 3 and a dead-server threshold of at
// least MinDeadServerThreshold; the thresholds must be positive.
func (c AutopilotConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrAutopilotConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.LastContactThreshold <= 0:
		return bad("last_contact_threshold must be positive, such as \"10s\"")
	case c.DeadServerLastContactThreshold <= 0:
		return bad("dead_server_last_contact_threshold must be positive, such as \"24h\"")
	case c.ServerStabilizationTime < 0:
		return bad("server_stabilization_time must not be negative")
	case c.CleanupDeadServers && c.MinQuorum < 3:
		return bad("min_quorum must be set when cleanup_dead_servers is set and it should at least be 3 (min_quorum is %d); set min_quorum to the number of voters the cluster should never go below", c.MinQuorum)
	case c.CleanupDeadServers && c.DeadServerLastContactThreshold < MinDeadServerThreshold:
		return bad("dead_server_last_contact_threshold should not be set to less than %s when cleanup_dead_servers is set (received %s)", MinDeadServerThreshold, c.DeadServerLastContactThreshold)
	}
	return nil
}

// autopilotConfigJSON is the stored and reported form: durations as Go
// duration strings ("10s"), as Vault reports them.
type autopilotConfigJSON struct {
	CleanupDeadServers             bool   `json:"cleanup_dead_servers"`
	LastContactThreshold           string `json:"last_contact_threshold"`
	DeadServerLastContactThreshold string `json:"dead_server_last_contact_threshold"`
	MaxTrailingLogs                uint64 `json:"max_trailing_logs"`
	MinQuorum                      uint   `json:"min_quorum"`
	ServerStabilizationTime        string `json:"server_stabilization_time"`
}

// MarshalJSON writes Vault's shape, durations as strings.
func (c AutopilotConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(autopilotConfigJSON{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.LastContactThreshold.String(),
		DeadServerLastContactThreshold: c.DeadServerLastContactThreshold.String(), MaxTrailingLogs: c.MaxTrailingLogs,
		MinQuorum: c.MinQuorum, ServerStabilizationTime: c.ServerStabilizationTime.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes; a missing duration keeps
// the receiver's value.
func (c *AutopilotConfig) UnmarshalJSON(b []byte) error {
	var j autopilotConfigJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	c.CleanupDeadServers, c.MaxTrailingLogs, c.MinQuorum = j.CleanupDeadServers, j.MaxTrailingLogs, j.MinQuorum
	for _, f := range []struct {
		raw string
		to  *time.Duration
	}{{j.LastContactThreshold, &c.LastContactThreshold}, {j.DeadServerLastContactThreshold, &c.DeadServerLastContactThreshold}, {j.ServerStabilizationTime, &c.ServerStabilizationTime}} {
		if f.raw == "" {
			continue
		}
		d, err := time.ParseDuration(f.raw)
		if err != nil {
			return err
		}
		*f.to = d
	}
	return nil
}
