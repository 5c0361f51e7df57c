package core_test

import (
	"net/http"
	"strings"
	"testing"
)

type autopilotState struct {
	Data struct {
		Healthy          bool     `json:"healthy"`
		FailureTolerance int      `json:"failure_tolerance"`
		Leader           string   `json:"leader"`
		Voters           []string `json:"voters"`
		Servers          map[string]struct {
			Status     string `json:"status"`
			NodeStatus string `json:"node_status"`
			Healthy    bool   `json:"healthy"`
			LastIndex  uint64 `json:"last_index"`
		} `json:"servers"`
	} `json:"data"`
}

type autopilotConfig struct {
	Data struct {
		CleanupDeadServers bool   `json:"cleanup_dead_servers"`
		MinQuorum          int    `json:"min_quorum"`
		DeadThreshold      string `json:"dead_server_last_contact_threshold"`
		LastContact        string `json:"last_contact_threshold"`
		Stabilization      string `json:"server_stabilization_time"`
	} `json:"data"`
}

type errorsBody struct {
	Errors []string `json:"errors"`
}

// TestHAAutopilot: autopilot runs on the active node and sees the three
// members healthy through the standbys' echoes; standbys forward its
// paths; its configuration is validated, survives a leader change and
// needs sudo.
func TestHAAutopilot(t *testing.T) {
	nodes, root := haCluster(t)
	act := active(t, nodes)
	standby := nodes[(act+1)%3]
	for _, n := range []*haNode{nodes[act], standby} {
		var st autopilotState
		eventually(t, "autopilot reports three healthy voters", func() bool {
			st = autopilotState{}
			code := do(t, n, http.MethodGet, "sys/storage/raft/autopilot/state", root, nil, &st, -1)
			return code == 200 && st.Data.Healthy && len(st.Data.Voters) == 3 && st.Data.FailureTolerance == 1
		})
		for id, s := range st.Data.Servers {
			if !s.Healthy || s.NodeStatus != "alive" || s.LastIndex == 0 || (s.Status == "leader") != (id == st.Data.Leader) {
				t.Errorf("server %s: %+v", id, s)
			}
		}
	}

	// Invalid settings are 400s that say what to change; nothing is kept.
	bad := map[string]struct {
		body map[string]any
		want string
	}{
		"cleanup without min_quorum": {map[string]any{"cleanup_dead_servers": true}, "min_quorum must be set"},
		"min_quorum 2":               {map[string]any{"cleanup_dead_servers": true, "min_quorum": 2}, "at least be 3"},
		"short dead threshold":       {map[string]any{"cleanup_dead_servers": true, "min_quorum": 3, "dead_server_last_contact_threshold": "10s"}, "less than 1m"},
		"not a duration":             {map[string]any{"last_contact_threshold": "soon"}, "last_contact_threshold"},
		"negative min_quorum":        {map[string]any{"min_quorum": -1}, "min_quorum must not be negative"},
	}
	for name, tc := range bad {
		var eb errorsBody
		retried(t, standby, http.MethodPost, "sys/storage/raft/autopilot/configuration", root, tc.body, &eb, 400)
		if len(eb.Errors) == 0 || !strings.Contains(eb.Errors[0], tc.want) {
			t.Errorf("%s: errors %q; want one mentioning %q", name, eb.Errors, tc.want)
		}
	}
	// Durations as Vault takes them: strings or seconds.
	// Clients retry the 503 a leadership move under load gives.
	retried(t, standby, http.MethodPost, "sys/storage/raft/autopilot/configuration", root, map[string]any{
		"cleanup_dead_servers": true, "min_quorum": 3, "dead_server_last_contact_threshold": "2m", "server_stabilization_time": 5,
	}, nil, 204)
	act = active(t, nodes)
	retried(t, nodes[act], http.MethodPut, "sys/step-down", root, nil, nil, 204)
	next := -1
	eventually(t, "another node becomes active", func() bool {
		next = active(t, nodes)
		return next != act
	})
	var cfg autopilotConfig
	retried(t, nodes[act], http.MethodGet, "sys/storage/raft/autopilot/configuration", root, nil, &cfg, 200)
	if d := cfg.Data; !d.CleanupDeadServers || d.MinQuorum != 3 || d.DeadThreshold != "2m0s" || d.Stabilization != "5s" || d.LastContact != "10s" {
		t.Fatalf("configuration after a leader change: %+v", d)
	}

	// sudo: a policy with read and update but not sudo is refused.
	policy := `path "sys/storage/raft/autopilot/*" { capabilities = ["read", "update"] }`
	retried(t, nodes[next], http.MethodPut, "sys/policies/acl/ap", root, map[string]any{"policy": policy}, nil, 204)
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	retried(t, nodes[next], http.MethodPost, "auth/token/create", root, map[string]any{"policies": []string{"ap"}}, &tok, 200)
	retried(t, nodes[next], http.MethodGet, "sys/storage/raft/autopilot/state", tok.Auth.ClientToken, nil, nil, 403)
	retried(t, nodes[next], http.MethodPost, "sys/storage/raft/autopilot/configuration", tok.Auth.ClientToken, map[string]any{"min_quorum": 5}, nil, 403)
}
