package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// TestRaftAutopilotRemovesKilledNode runs four coffer server processes and
// talks to autopilot with the OpenBao client (wire compatibility): the
// three that join come in as non-voters and are promoted; four healthy
// voters tolerate one failure; with cleanup_dead_servers and
// min_quorum 3, a killed standby turns the cluster unhealthy, and after
// dead_server_last_contact_threshold (1m, Vault's shortest) autopilot
// removes it, leaving three healthy voters that again tolerate one failure.
func TestRaftAutopilotRemovesKilledNode(t *testing.T) {
	rc := formRaftClusterOf(t, buildCoffer(t), 4)
	lead := waitActive(t, rc.nodes...)
	c := newClient(t, lead.api, rc.root)
	waitAutopilot(t, c, "four healthy voters tolerating one failure", func(st *api.AutopilotState) bool {
		return st.Healthy && len(st.Voters) == 4 && st.FailureTolerance == 1 && st.Leader == lead.id
	})

	// The three joined as non-voters and autopilot promoted them.
	if got := strings.Count(lead.log.String(), "Promoting server"); got < 3 {
		t.Errorf("%s logged %d promotions; want one per joined node\n%s", lead.id, got, lead.log.String())
	}

	// The configuration is validated as Vault's is.
	err := c.Sys().PutRaftAutopilotConfiguration(&api.AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 10 * time.Second,
		DeadServerLastContactThreshold: time.Minute, MaxTrailingLogs: 1000, ServerStabilizationTime: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "min_quorum must be set") {
		t.Fatalf("cleanup without min_quorum: %v; want a 400 naming min_quorum", err)
	}
	want := api.AutopilotConfig{CleanupDeadServers: true, MinQuorum: 3, LastContactThreshold: 10 * time.Second,
		DeadServerLastContactThreshold: time.Minute, MaxTrailingLogs: 1000, ServerStabilizationTime: 10 * time.Second}
	// Sent through a standby: forwarded to the active node.
	var victim *raftNode
	for _, n := range rc.nodes {
		if n != lead {
			victim = n
		}
	}
	if err := newClient(t, victim.api, rc.root).Sys().PutRaftAutopilotConfiguration(&want); err != nil {
		t.Fatalf("set the autopilot configuration through a standby: %v", err)
	}
	got, err := c.Sys().RaftAutopilotConfiguration()
	if err != nil || got == nil || *got != want {
		t.Fatalf("configuration read back: %+v, %v; want %+v", got, err, want)
	}

	victim.kill()
	t0 := time.Now()
	waitAutopilot(t, c, victim.id+" unhealthy, no failure tolerated", func(st *api.AutopilotState) bool {
		s := st.Servers[victim.id]
		return !st.Healthy && st.FailureTolerance == 0 && s != nil && !s.Healthy
	})
	st := waitAutopilot(t, c, victim.id+" removed, three healthy voters", func(st *api.AutopilotState) bool {
		return st.Healthy && len(st.Voters) == 3 && st.Servers[victim.id] == nil
	})
	t.Logf("%s removed %s after it was killed", victim.id, time.Since(t0).Round(time.Second))
	if time.Since(t0) < time.Minute {
		t.Errorf("%s was removed after %s, before dead_server_last_contact_threshold (1m)", victim.id, time.Since(t0))
	}
	if st.FailureTolerance != 1 {
		t.Errorf("three healthy voters tolerate %d failures; want 1", st.FailureTolerance)
	}
	if out := coffer(t, rc.bin, lead.api, rc.root, "operator", "raft", "list-peers"); strings.Contains(out, victim.id) {
		t.Errorf("list-peers still shows %s:\n%s", victim.id, out)
	}
	out := coffer(t, rc.bin, lead.api, rc.root, "operator", "raft", "autopilot", "state")
	if !strings.Contains(out, "Healthy:                         true") || !strings.Contains(out, "Failure Tolerance:               1") {
		t.Errorf("operator raft autopilot state:\n%s", out)
	}
}

// waitAutopilot polls sys/storage/raft/autopilot/state through c until
// cond holds (2 min at most) and returns that state.
func waitAutopilot(t *testing.T, c *api.Client, what string, cond func(*api.AutopilotState) bool) *api.AutopilotState {
	t.Helper()
	var last *api.AutopilotState
	var lastErr error
	ok := eventuallyTrue(2*time.Minute, func() bool {
		last, lastErr = c.Sys().RaftAutopilotState()
		return lastErr == nil && last != nil && cond(last)
	})
	if !ok {
		j, _ := json.Marshal(last)
		t.Fatalf("autopilot state never showed %s: %v\nlast: %s", what, lastErr, j)
	}
	return last
}
