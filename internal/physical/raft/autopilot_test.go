package raft

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// heartbeats reports every running member's progress to the leader every
// 50 ms, as the standbys' echoes do, until the test ends; a node in
// c.down or silent stops reporting.
type heartbeats struct {
	mu     sync.Mutex
	silent map[int]bool
}

func (c *cluster) heartbeats() *heartbeats {
	h := &heartbeats{silent: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	c.t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			nodes := c.running()
			h.mu.Lock()
			for i, b := range nodes {
				if c.down[i] || h.silent[i] {
					continue
				}
				_, applied := b.Indexes()
				for j, l := range nodes {
					if !c.down[j] && l.IsLeader() {
						l.RecordHeartbeat(Heartbeat{NodeID: b.NodeID(), AppliedIndex: applied, Term: b.Term()})
					}
				}
			}
			h.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return h
}

func (h *heartbeats) silence(i int) {
	h.mu.Lock()
	h.silent[i] = true
	h.mu.Unlock()
}

func fastAutopilot() AutopilotConfig {
	cfg := DefaultAutopilotConfig()
	cfg.LastContactThreshold = time.Second
	cfg.ServerStabilizationTime = 500 * time.Millisecond
	return cfg
}

// waitState waits until the leader's autopilot state satisfies cond.
func waitState(t *testing.T, b *Backend, what string, cond func(*AutopilotState) bool) *AutopilotState {
	t.Helper()
	var last *AutopilotState
	deadline := time.Now().Add(waitFor)
	for {
		last = b.AutopilotState()
		if last != nil && cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			j, _ := json.Marshal(last)
			t.Fatalf("autopilot state never showed %s; last: %s", what, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAutopilotStateOfHealthyCluster(t *testing.T) {
	c := newCluster(t, 3, 0)
	lead := c.nodes[c.leader()]
	if lead.AutopilotState() != nil {
		t.Fatal("autopilot reports a state before it was started")
	}
	lead.StartAutopilot(context.Background(), fastAutopilot())
	h := c.heartbeats()
	// Healthy comes before every follower's first heartbeat after it
	// applied an entry (autopilot counts an index of 0 as within
	// max_trailing_logs): wait for those too, not only for Healthy.
	st := waitState(t, lead, "three healthy voters, each with its term and index", func(s *AutopilotState) bool {
		for _, srv := range s.Servers {
			if srv.LastTerm == 0 || srv.LastIndex == 0 {
				return false
			}
		}
		return s.Healthy && len(s.Voters) == 3 && s.FailureTolerance == 1
	})
	if st.Leader != lead.NodeID() || st.Voters[0] != lead.NodeID() {
		t.Fatalf("leader %q, voters %v; want %s first", st.Leader, st.Voters, lead.NodeID())
	}
	for id, s := range st.Servers {
		want := "voter"
		if id == lead.NodeID() {
			want = "leader"
		}
		if s.Status != want || s.NodeStatus != "alive" || !s.Healthy || s.LastTerm == 0 || s.LastIndex == 0 || s.Name != id || s.Address == "" {
			t.Errorf("server %s: %+v; want a healthy, alive %s with its term and index", id, s, want)
		}
	}
	j, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"healthy":true`, `"failure_tolerance":1`, `"last_contact":"`, `"stable_since":"`, `"node_status":"alive"`} {
		if !strings.Contains(string(j), key) {
			t.Errorf("state JSON lacks %s: %s", key, j)
		}
	}

	// A member that stops reporting turns unhealthy after
	// last_contact_threshold, and the tolerance drops to zero.
	h.silence((c.leader() + 1) % 3)
	waitState(t, lead, "an unhealthy member", func(s *AutopilotState) bool {
		return !s.Healthy && s.FailureTolerance == 0
	})

	lead.StopAutopilot()
	if lead.AutopilotState() != nil || lead.AutopilotRunning() {
		t.Fatal("autopilot still reports a state after StopAutopilot")
	}
}

func TestAutopilotPromotesStableNonvoter(t *testing.T) {
	c := newCluster(t, 3, 0)
	lead := c.nodes[c.leader()]
	lead.StartAutopilot(context.Background(), fastAutopilot())
	h := c.heartbeats()
	h.silence(3) // the new member stays silent at first: unhealthy, not promoted
	c.addAs(false)
	newID := c.nodes[3].NodeID()
	waitState(t, lead, "the new member as an unhealthy non-voter", func(s *AutopilotState) bool {
		srv := s.Servers[newID]
		return srv != nil && srv.Status == "non-voter" && !srv.Healthy && slices.Equal(s.NonVoters, []string{newID})
	})
	time.Sleep(time.Second) // a few reconciles: a silent non-voter is not promoted
	if isVoter(t, lead, newID) {
		t.Fatal("a member that never reported was promoted")
	}
	h.mu.Lock()
	delete(h.silent, 3)
	h.mu.Unlock()
	eventually(t, "the reporting member is promoted", func() bool { return isVoter(t, lead, newID) })
	waitState(t, lead, "four healthy voters", func(s *AutopilotState) bool {
		return s.Healthy && len(s.Voters) == 4 && len(s.NonVoters) == 0 && s.FailureTolerance == 1
	})
}

func isVoter(t *testing.T, b *Backend, id string) bool {
	t.Helper()
	servers, err := b.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.ID == id {
			return s.Voter
		}
	}
	return false
}

// TestAutopilotRemovesDeadVoterDownToMinQuorum kills one of four voters:
// with cleanup on and min_quorum 3 it is removed; a second dead voter is
// not, since that would leave fewer than min_quorum.
func TestAutopilotRemovesDeadVoterDownToMinQuorum(t *testing.T) {
	c := newCluster(t, 4, 0)
	li := c.leader()
	lead := c.nodes[li]
	cfg := fastAutopilot()
	cfg.CleanupDeadServers, cfg.MinQuorum, cfg.DeadServerLastContactThreshold = true, 3, 700*time.Millisecond
	lead.StartAutopilot(context.Background(), cfg)
	h := c.heartbeats()
	waitState(t, lead, "four healthy voters", func(s *AutopilotState) bool { return s.Healthy && len(s.Voters) == 4 })

	victim, second := (li+1)%4, (li+2)%4
	kill := func(i int) {
		h.silence(i)
		if err := c.nodes[i].Close(); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		c.down[i] = true
		h.mu.Unlock()
	}
	kill(victim)
	st := waitState(t, lead, "the dead voter removed", func(s *AutopilotState) bool {
		return len(s.Servers) == 3 && s.Servers[c.nodes[victim].NodeID()] == nil && s.Healthy
	})
	if st.FailureTolerance != 1 {
		t.Errorf("failure tolerance with three healthy voters = %d; want 1", st.FailureTolerance)
	}
	c.write("after-cleanup", "x")

	kill(second)
	time.Sleep(3 * cfg.DeadServerLastContactThreshold)
	servers, err := lead.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("%d members after a second voter died; min_quorum 3 should keep all three: %+v", len(servers), servers)
	}
	st = waitState(t, lead, "the second dead voter reported left", func(s *AutopilotState) bool {
		srv := s.Servers[c.nodes[second].NodeID()]
		return srv != nil && srv.NodeStatus == "left" && !s.Healthy
	})
	if st.FailureTolerance != 0 {
		t.Errorf("failure tolerance with two of three voters healthy = %d; want 0", st.FailureTolerance)
	}
}

func TestAutopilotConfigValidate(t *testing.T) {
	t.Parallel()
	def := DefaultAutopilotConfig()
	cases := map[string]struct {
		change  func(*AutopilotConfig)
		wantErr string
	}{
		"defaults":                   {change: func(*AutopilotConfig) {}},
		"cleanup without min_quorum": {change: func(c *AutopilotConfig) { c.CleanupDeadServers = true }, wantErr: "min_quorum must be set"},
		"cleanup with min_quorum 2":  {change: func(c *AutopilotConfig) { c.CleanupDeadServers, c.MinQuorum = true, 2 }, wantErr: "at least be 3"},
		"cleanup with min_quorum 3":  {change: func(c *AutopilotConfig) { c.CleanupDeadServers, c.MinQuorum = true, 3 }},
		"cleanup with a 30s threshold": {change: func(c *AutopilotConfig) {
			c.CleanupDeadServers, c.MinQuorum, c.DeadServerLastContactThreshold = true, 3, 30*time.Second
		}, wantErr: "less than 1m0s"},
		"short threshold without clean": {change: func(c *AutopilotConfig) { c.DeadServerLastContactThreshold = 30 * time.Second }},
		"zero last_contact_threshold":   {change: func(c *AutopilotConfig) { c.LastContactThreshold = 0 }, wantErr: "last_contact_threshold must be positive"},
		"negative stabilization":        {change: func(c *AutopilotConfig) { c.ServerStabilizationTime = -time.Second }, wantErr: "must not be negative"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := def
			tc.change(&cfg)
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrAutopilotConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v; want ErrAutopilotConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestAutopilotConfigJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := AutopilotConfig{CleanupDeadServers: true, LastContactThreshold: 5 * time.Second, DeadServerLastContactThreshold: 2 * time.Minute,
		MaxTrailingLogs: 50, MinQuorum: 3, ServerStabilizationTime: 1500 * time.Millisecond}
	j, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cleanup_dead_servers":true,"last_contact_threshold":"5s","dead_server_last_contact_threshold":"2m0s","max_trailing_logs":50,"min_quorum":3,"server_stabilization_time":"1.5s"}`
	if string(j) != want {
		t.Fatalf("JSON = %s\nwant  %s", j, want)
	}
	var out AutopilotConfig
	if err := json.Unmarshal(j, &out); err != nil || out != in {
		t.Fatalf("round trip = %+v, %v; want %+v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"last_contact_threshold":"soon"}`), &out); err == nil {
		t.Fatal("a duration that does not parse was accepted")
	}
}
