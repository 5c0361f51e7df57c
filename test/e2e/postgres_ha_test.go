package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// pgHANode is one coffer server process on a shared PostgreSQL table with
// ha_enabled and a cluster port on loopback.
type pgHANode struct {
	name, api        string
	bin, conf, dbURL string
	p                *pgProc
}

// startPGHANode writes a configuration on table and haTable and starts it.
func startPGHANode(t *testing.T, bin, dbURL, name, table, haTable string) *pgHANode {
	t.Helper()
	apiAddr, clusterAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	conf := filepath.Join(t.TempDir(), "coffer.hcl")
	hcl := fmt.Sprintf(`storage "postgresql" {
  table      = %q
  ha_enabled = true
  ha_table   = %q
}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr     = "http://%s"
cluster_addr = "https://%s"
log_level    = "info"
`, table, haTable, apiAddr, clusterAddr, apiAddr, clusterAddr)
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	return &pgHANode{name: name, api: "http://" + apiAddr, bin: bin, conf: conf, dbURL: dbURL, p: startPGProcess(t, bin, conf, dbURL)}
}

// kill stops the node's process with SIGKILL and reaps it.
func (n *pgHANode) kill() {
	_ = n.p.cmd.Process.Kill()
	_ = n.p.cmd.Wait()
}

// restart starts the node again on its configuration (same ports) and
// unseals it with keys.
func (n *pgHANode) restart(t *testing.T, keys []string) {
	t.Helper()
	n.p = startPGProcess(t, n.bin, n.conf, n.dbURL)
	unsealWith(t, newClient(t, n.api, ""), keys)
}

// health returns the node's sys/health status code, 0 when it is down.
func (n *pgHANode) health() int {
	resp, err := http.Get(n.api + "/v1/sys/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPostgresHAStandbyForwards runs two coffer server processes on one
// PostgreSQL table with ha_enabled: both unsealed, one active (health 200)
// and one standby (429); a KV write and a read through the standby are
// forwarded to the active server over the cluster port; the active server
// is killed with SIGKILL and the standby takes over, serving the data.
func TestPostgresHAStandbyForwards(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	table, haTable := pgtest.Table(t, dbURL), pgtest.Table(t, dbURL)
	bin := buildCoffer(t)
	ctx := context.Background()
	n1 := startPGHANode(t, bin, dbURL, "node1", table, haTable)
	n2 := startPGHANode(t, bin, dbURL, "node2", table, haTable)
	c1 := newClient(t, n1.api, "")
	init, err := c1.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, n1.p.stderr.String())
	}
	unsealWith(t, c1, init.KeysB64[:2])
	waitUntil(t, 30*time.Second, "node1 to become active", func() bool { return n1.health() == http.StatusOK })
	c2 := newClient(t, n2.api, init.RootToken)
	unsealWith(t, c2, init.KeysB64[1:])
	waitUntil(t, 30*time.Second, "node2 to stand by", func() bool { return n2.health() == http.StatusTooManyRequests })
	if h := n1.health(); h != http.StatusOK {
		t.Fatalf("node1 health = %d after node2 unsealed, want 200", h)
	}

	// Writes and reads through the standby are forwarded to node1.
	if err := c2.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("mount through the standby: %v\n%s", err, n2.p.stderr.String())
	}
	const value = "forwarded-over-the-cluster-port-7f3a"
	if _, err := c2.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": value}); err != nil {
		t.Fatalf("write through the standby: %v\n%s", err, n2.p.stderr.String())
	}
	got, err := c2.KVv2("secret").Get(ctx, "app/db")
	if err != nil || got.Data["password"] != value {
		t.Fatalf("read through the standby: %+v %v", got, err)
	}
	c1.SetToken(init.RootToken)
	if got, err := c1.KVv2("secret").Get(ctx, "app/db"); err != nil || got.Data["password"] != value {
		t.Fatalf("read on the active server: %+v %v", got, err)
	}

	// kill -9 the active server: node2 takes over once the lock expires.
	killed := time.Now()
	n1.kill()
	waitUntil(t, 45*time.Second, "node2 to become active", func() bool { return n2.health() == http.StatusOK })
	t.Logf("node2 active %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	got, err = c2.KVv2("secret").Get(ctx, "app/db")
	if err != nil || got.Data["password"] != value {
		t.Fatalf("read on the new active server: %+v %v", got, err)
	}
	if _, err := c2.KVv2("secret").Put(ctx, "app/after", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("write on the new active server: %v", err)
	}
}
