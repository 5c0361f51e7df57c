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
// c.down or silent stops reporting. With a config from follow, it also
// runs autopilot on whichever node leads, as core does on the active
// node: leadership can move on a loaded machine (a follower busy with a
// snapshot misses heartbeats), and the autopilot of a node that no longer
// leads is stopped, its state gone, as in the product.
type heartbeats struct {
	mu     sync.Mutex
	silent map[int]bool
	pilot  *AutopilotConfig
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
			h.followLeader(c, nodes)
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

// followLeader starts autopilot on a running node that leads and stops it
// on one that does not, while h.pilot is set. Called with h.mu held.
func (h *heartbeats) followLeader(c *cluster, nodes []*Backend) {
	if h.pilot == nil {
		return
	}
	for i, b := range nodes {
		switch lead := !c.down[i] && b.IsLeader(); {
		case lead && !b.AutopilotRunning():
			b.StartAutopilot(context.Background(), *h.pilot)
		case !lead && !c.down[i] && b.AutopilotRunning():
			b.StopAutopilot()
		}
	}
}

// follow runs autopilot with cfg on whichever node leads, from now on;
// unfollow stops that and autopilot everywhere.
func (h *heartbeats) follow(cfg AutopilotConfig) {
	h.mu.Lock()
	h.pilot = &cfg
	h.mu.Unlock()
}

func (h *heartbeats) unfollow(c *cluster) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pilot = nil
	for i, b := range c.running() {
		if !c.down[i] {
			b.StopAutopilot()
		}
	}
}

// kill silences node i and closes it, kept from the heartbeats loop.
func (h *heartbeats) kill(c *cluster, i int) {
	c.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.silent[i] = true
	c.down[i] = true
	if err := c.nodes[i].Close(); err != nil {
		c.t.Fatal(err)
	}
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

// waitState waits until the autopilot state of the node that leads now
// satisfies cond, re-reading the leader on each poll: a state is taken only
// from a node that leads and whose autopilot names it leader, so a node
// that just lost (or just gained) leadership is not checked on a stale
// view. It returns the state and the index of that leader.
func (c *cluster) waitState(what string, cond func(*AutopilotState) bool) (*AutopilotState, int) {
	c.t.Helper()
	var last *AutopilotState
	deadline := time.Now().Add(waitFor)
	for {
		i := c.leader()
		last = c.nodes[i].AutopilotState()
		if last != nil && last.Leader == c.nodes[i].NodeID() && cond(last) && c.nodes[i].IsLeader() {
			return last, i
		}
		if time.Now().After(deadline) {
			j, _ := json.Marshal(last)
			c.t.Fatalf("autopilot state never showed %s; last: %s", what, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAutopilotStateOfHealthyCluster(t *testing.T) {
	c := newCluster(t, 3, 0)
	if c.nodes[c.leader()].AutopilotState() != nil {
		t.Fatal("autopilot reports a state before it was started")
	}
	h := c.heartbeats()
	h.follow(fastAutopilot())
	// Healthy comes before every follower's first heartbeat after it
	// applied an entry (autopilot counts an index of 0 as within
	// max_trailing_logs): wait for those too, not only for Healthy.
	st, li := c.waitState("three healthy voters, each with its term and index", func(s *AutopilotState) bool {
		for _, srv := range s.Servers {
			if srv.LastTerm == 0 || srv.LastIndex == 0 {
				return false
			}
		}
		return s.Healthy && len(s.Voters) == 3 && s.FailureTolerance == 1
	})
	leadID := c.nodes[li].NodeID()
	if st.Voters[0] != leadID {
		t.Fatalf("voters %v; want the leader %s first", st.Voters, leadID)
	}
	for id, s := range st.Servers {
		want := "voter"
		if id == leadID {
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
	// last_contact_threshold, and the tolerance drops to zero. It is
	// named by ID, and checked on whichever node leads then; if it is
	// the leader by then, another member is silenced.
	c.waitState("an unhealthy member", func(s *AutopilotState) bool {
		for i, b := range c.nodes {
			if b.NodeID() != s.Leader {
				h.silence(i)
				break
			}
		}
		return !s.Healthy && s.FailureTolerance == 0
	})

	h.unfollow(c)
	for i, b := range c.nodes {
		if b.AutopilotState() != nil || b.AutopilotRunning() {
			t.Fatalf("node%d: autopilot still reports a state after StopAutopilot", i)
		}
	}
}

func TestAutopilotPromotesStableNonvoter(t *testing.T) {
	c := newCluster(t, 3, 0)
	h := c.heartbeats()
	h.follow(fastAutopilot())
	h.silence(3) // the new member stays silent at first: unhealthy, not promoted
	c.addAs(false)
	newID := c.nodes[3].NodeID()
	c.waitState("the new member as an unhealthy non-voter", func(s *AutopilotState) bool {
		srv := s.Servers[newID]
		return srv != nil && srv.Status == "non-voter" && !srv.Healthy && slices.Equal(s.NonVoters, []string{newID})
	})
	time.Sleep(time.Second) // a few reconciles: a silent non-voter is not promoted
	if c.isVoter(newID) {
		t.Fatal("a member that never reported was promoted")
	}
	h.mu.Lock()
	delete(h.silent, 3)
	h.mu.Unlock()
	eventually(t, "the reporting member is promoted", func() bool { return c.isVoter(newID) })
	c.waitState("four healthy voters", func(s *AutopilotState) bool {
		return s.Healthy && len(s.Voters) == 4 && len(s.NonVoters) == 0 && s.FailureTolerance == 1
	})
}

// isVoter reports whether id is a voter in the configuration of the node
// that leads now.
func (c *cluster) isVoter(id string) bool {
	c.t.Helper()
	servers, err := c.nodes[c.leader()].Servers(context.Background())
	if err != nil {
		c.t.Fatal(err)
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
// not, since that would leave fewer than min_quorum. Autopilot follows
// leadership, and each dead voter is one that does not lead when killed.
func TestAutopilotRemovesDeadVoterDownToMinQuorum(t *testing.T) {
	c := newCluster(t, 4, 0)
	cfg := fastAutopilot()
	cfg.CleanupDeadServers, cfg.MinQuorum, cfg.DeadServerLastContactThreshold = true, 3, 700*time.Millisecond
	h := c.heartbeats()
	h.follow(cfg)
	_, li := c.waitState("four healthy voters", func(s *AutopilotState) bool { return s.Healthy && len(s.Voters) == 4 })

	victim := (li + 1) % 4
	h.kill(c, victim)
	victimID := c.nodes[victim].NodeID()
	st, li := c.waitState("the dead voter removed", func(s *AutopilotState) bool {
		return len(s.Servers) == 3 && s.Servers[victimID] == nil && s.Healthy
	})
	if st.FailureTolerance != 1 {
		t.Errorf("failure tolerance with three healthy voters = %d; want 1", st.FailureTolerance)
	}
	c.write("after-cleanup", "x")

	second := (li + 1) % 4
	if second == victim {
		second = (second + 1) % 4
	}
	h.kill(c, second)
	secondID := c.nodes[second].NodeID()
	st, _ = c.waitState("the second dead voter reported left", func(s *AutopilotState) bool {
		srv := s.Servers[secondID]
		return srv != nil && srv.NodeStatus == "left" && !s.Healthy
	})
	if st.FailureTolerance != 0 {
		t.Errorf("failure tolerance with two of three voters healthy = %d; want 0", st.FailureTolerance)
	}
	// Reported left for a few reconciles (200 ms each), it is still a
	// member: removing it would leave fewer than min_quorum.
	time.Sleep(3 * cfg.DeadServerLastContactThreshold)
	servers, err := c.nodes[c.leader()].Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("%d members after a second voter died; min_quorum 3 should keep all three: %+v", len(servers), servers)
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
