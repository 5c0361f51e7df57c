package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

func eventuallyTrue(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coffer runs the CLI against addr with token and returns its stdout.
func coffer(t *testing.T, bin, addr, token string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), "COFFER_ADDR="+addr, "COFFER_TOKEN="+token)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("coffer %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestRaftThreeProcessCluster runs three coffer server processes on storage
// "raft" over their cluster ports: node1 is initialised and unsealed, node2
// joins by retry_join and node3 by operator raft join, each unsealed with
// the cluster's shares; list-peers shows three voters; a node that cannot
// open its challenge is refused; a write on the leader reaches every node;
// a killed member, restarted and unsealed, rejoins by itself and catches up
// on what was written while it was down.
func TestRaftThreeProcessCluster(t *testing.T) {
	bin := buildCoffer(t)
	ctx := context.Background()
	n1 := newRaftNode(t, 1, "")
	n2 := newRaftNode(t, 2, n1.api)
	n3 := newRaftNode(t, 3, "")
	for _, n := range []*raftNode{n1, n2, n3} {
		n.start(t, bin)
	}
	c1 := newClient(t, n1.api, "")
	init, err := c1.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, n1.log.String())
	}
	unsealWith(t, c1, init.KeysB64[:2])
	c1.SetToken(init.RootToken)

	// A node that asks for a challenge but cannot open it is refused.
	refuseUnprovenJoin(t, n1)

	// node2 joins on its own (retry_join): once it has its challenge it
	// reports initialised and sealed, and the cluster's shares unseal it.
	c2 := newClient(t, n2.api, "")
	waitUntil(t, 30*time.Second, "node2 to get its join challenge", func() bool {
		st, err := c2.Sys().SealStatus()
		return err == nil && st.Initialized && st.T == 2
	})
	unsealWith(t, c2, []string{init.KeysB64[1], init.KeysB64[2]})

	// node3 joins through the CLI.
	if out := coffer(t, bin, n3.api, "", "operator", "raft", "join", "-format=json", n1.api); !strings.Contains(out, `"joined": true`) {
		t.Fatalf("operator raft join: %s", out)
	}
	c3 := newClient(t, n3.api, "")
	unsealWith(t, c3, []string{init.KeysB64[0], init.KeysB64[2]})

	// Both joined as non-voters; autopilot promotes them once stable.
	waitVoters(t, newClient(t, n1.api, init.RootToken), 3)
	var peers struct {
		Data struct {
			Config struct {
				Servers []struct {
					NodeID  string `json:"node_id"`
					Address string `json:"address"`
					Leader  bool   `json:"leader"`
					Voter   bool   `json:"voter"`
				} `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	out := coffer(t, bin, n1.api, init.RootToken, "operator", "raft", "list-peers", "-format=json")
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("list-peers: %v\n%s", err, out)
	}
	servers := peers.Data.Config.Servers
	if len(servers) != 3 {
		t.Fatalf("list-peers: %s", out)
	}
	for i, s := range servers {
		if s.NodeID != fmt.Sprintf("node%d", i+1) || !s.Voter || s.Leader != (i == 0) {
			t.Errorf("peer %d: %+v", i, s)
		}
	}
	if table := coffer(t, bin, n1.api, init.RootToken, "operator", "raft", "list-peers"); !strings.Contains(table, "node3") || !strings.Contains(table, "leader") {
		t.Errorf("list-peers table:\n%s", table)
	}

	if err := c1.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "one"}); err != nil {
		t.Fatal(err)
	}
	// Each follower in turn goes down while a write lands (two of three
	// voters keep the quorum), restarts, unseals from its own replicated
	// copy, reconnects by itself and catches up.
	want := map[string]string{"app/db": "one"}
	// A standby forwards writes and reads to the active node over the
	// cluster port, and answers sys/health with 429 (200 with standbyok).
	c2.SetToken(init.RootToken)
	if _, err := c2.KVv2("secret").Put(ctx, "app/via-standby", map[string]any{"password": "fw"}); err != nil {
		t.Fatalf("write through a standby: %v\n%s", err, n2.log.String())
	}
	want["app/via-standby"] = "fw"
	if s, err := c2.KVv2("secret").Get(ctx, "app/db"); err != nil || s.Data["password"] != "one" {
		t.Fatalf("read through a standby: %v %v", s, err)
	}
	for q, code := range map[string]int{"": 429, "?standbyok=true": 200} {
		resp, err := http.Get(n2.api + "/v1/sys/health" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Fatalf("sys/health%s on a standby: %d, want %d", q, resp.StatusCode, code)
		}
	}
	for _, n := range []*raftNode{n2, n3} {
		n.kill()
		path := "app/while-" + n.id + "-down"
		if _, err := c1.KVv2("secret").Put(ctx, path, map[string]any{"password": n.id}); err != nil {
			t.Fatalf("write with %s down: %v", n.id, err)
		}
		want[path] = n.id
		n.start(t, bin)
		c := newClient(t, n.api, "")
		unsealWith(t, c, init.KeysB64[:2])
		c.SetToken(init.RootToken)
		for path, v := range want {
			var last error
			ok := eventuallyTrue(20*time.Second, func() bool {
				got, err := c.KVv2("secret").Get(ctx, path)
				last = err
				return err == nil && got.Data["password"] == v
			})
			if !ok {
				t.Fatalf("%s cannot read %s: %v\n%s", n.id, path, last, n.log.String())
			}
		}
	}
	if _, err := c1.KVv2("secret").Put(ctx, "app/after", map[string]any{"password": "three"}); err != nil {
		t.Fatalf("write after the restarts: %v", err)
	}
}

// refuseUnprovenJoin asks n for a challenge and answers it wrongly: the
// answer is refused (403) and the member list does not change.
func refuseUnprovenJoin(t *testing.T, n *raftNode) {
	t.Helper()
	post := func(path, body string, out any) int {
		resp, err := http.Post(n.api+"/v1/sys/storage/raft/bootstrap/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	if code := post("challenge", `{"server_id":"intruder"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("a challenge without cluster_addr got %d, want 400", code)
	}
	var ch struct {
		Data struct {
			Challenge string `json:"challenge"`
		} `json:"data"`
	}
	if code := post("challenge", `{"server_id":"intruder","cluster_addr":"127.0.0.1:1"}`, &ch); code != http.StatusOK || ch.Data.Challenge == "" {
		t.Fatalf("challenge: %d", code)
	}
	wrong := `{"challenge":"` + ch.Data.Challenge + `","answer":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`
	// A wrong answer is refused, and (the leader keeps no pending state)
	// refused again the same way: it cancels nothing.
	for i := 0; i < 2; i++ {
		if code := post("answer", wrong, nil); code != http.StatusForbidden {
			t.Fatalf("a wrong answer got %d, want 403", code)
		}
	}
	if code := post("answer", `{"challenge":"AAAA","answer":"AAAA"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("a forged challenge got %d, want 400", code)
	}
}
