package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// TestRaftChartLayout runs three server processes the way the Helm chart's
// raft StatefulSet runs its pods: one configuration (no node_id, api_addr
// or cluster_addr; a retry_join for every node, itself included), each
// node's id and addresses from COFFER_RAFT_NODE_ID, COFFER_API_ADDR and
// COFFER_CLUSTER_ADDR, the same ports on a different address per node
// (127.0.0.1-3 stand for the pod IPs). Initialising node 0 while every
// node's retry_join runs must not make it join itself; the other two join
// once unsealed, under the names from their environment, and a standby
// forwards.
func TestRaftChartLayout(t *testing.T) {
	bin := buildCoffer(t)
	ctx := context.Background()
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	apiPort, clusterPort := commonFreePort(t, hosts), commonFreePort(t, hosts)
	var joins strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&joins, "  retry_join {\n    leader_api_addr = \"http://%s:%d\"\n  }\n", h, apiPort)
	}
	nodes := make([]*raftNode, len(hosts))
	for i, h := range hosts {
		dir := t.TempDir()
		conf := fmt.Sprintf("storage \"raft\" {\n  path = %q\n  performance_multiplier = 1\n%s}\n"+
			"listener \"tcp\" {\n  address = \"%s:%d\"\n  cluster_address = \"%s:%d\"\n  tls_disable = true\n}\n",
			filepath.Join(dir, "data"), joins.String(), h, apiPort, h, clusterPort)
		n := &raftNode{id: fmt.Sprintf("coffer-server-%d", i), dir: dir, conf: filepath.Join(dir, "coffer.hcl"),
			api: fmt.Sprintf("http://%s:%d", h, apiPort)}
		n.env = []string{"COFFER_RAFT_NODE_ID=" + n.id, "COFFER_API_ADDR=" + n.api,
			fmt.Sprintf("COFFER_CLUSTER_ADDR=https://%s:%d", h, clusterPort)}
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start(t, bin)
		nodes[i] = n
	}
	// Let every retry_join loop run at least once before the init.
	time.Sleep(3 * time.Second)
	c0 := newClient(t, nodes[0].api, "")
	init, err := c0.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, nodes[0].log.String())
	}
	unsealWith(t, c0, init.KeysB64[:2])
	for _, n := range nodes[1:] {
		c := newClient(t, n.api, "")
		waitUntil(t, 30*time.Second, n.id+" to get its join challenge", func() bool {
			st, err := c.Sys().SealStatus()
			return err == nil && st.Initialized && st.T == 2
		})
		unsealWith(t, c, init.KeysB64[1:])
	}
	if strings.Contains(nodes[0].log.String(), "join challenge received") {
		t.Errorf("the initialised node started joining (itself?):\n%s", nodes[0].log.String())
	}
	waitVoters(t, newClient(t, nodes[0].api, init.RootToken), 3)
	var peers struct {
		Data struct {
			Config struct {
				Servers []struct {
					NodeID  string `json:"node_id"`
					Address string `json:"address"`
					Voter   bool   `json:"voter"`
				} `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	out := coffer(t, bin, nodes[0].api, init.RootToken, "operator", "raft", "list-peers", "-format=json")
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("list-peers: %v\n%s", err, out)
	}
	if got := peers.Data.Config.Servers; len(got) != 3 {
		t.Fatalf("list-peers: %s", out)
	}
	for i, s := range peers.Data.Config.Servers {
		if want := fmt.Sprintf("%s:%d", hosts[i], clusterPort); s.NodeID != nodes[i].id || s.Address != want || !s.Voter {
			t.Errorf("peer %d = %+v, want voter %s at %s (from its environment)", i, s, nodes[i].id, want)
		}
	}
	c0.SetToken(init.RootToken)
	if err := c0.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	c2 := newClient(t, nodes[2].api, init.RootToken)
	if _, err := c2.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("write through a standby: %v\n%s", err, nodes[2].log.String())
	}
	if s, err := c0.KVv2("secret").Get(ctx, "app"); err != nil || s.Data["k"] != "v" {
		t.Fatalf("read on the active node: %v %v", s, err)
	}
}

// commonFreePort returns a port nobody listens on at any of hosts now.
func commonFreePort(t *testing.T, hosts []string) int {
	t.Helper()
	for range 50 {
		_, p, _ := net.SplitHostPort(freeLoopbackAddr(t))
		free := true
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, p))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			port, _ := strconv.Atoi(p)
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return 0
}
