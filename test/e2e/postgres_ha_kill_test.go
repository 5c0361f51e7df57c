package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// pgFailoverLimit is what TestPostgresHAKillActiveUnderLoad allows from
// the kill to the first acknowledged write: the lock's 15 s TTL, the
// standby's 1 s retry, activation, and room for a loaded machine.
const pgFailoverLimit = 30 * time.Second

// TestPostgresHAKillActiveUnderLoad runs two coffer server processes on
// one PostgreSQL table with ha_enabled and 16 writers of distinct KV v2
// keys through either. Twice the active server is killed with SIGKILL: the
// standby takes over (kill to first acknowledged write is logged), and the
// killed one restarts on its configuration, unseals and stands by. At the
// end every acknowledged write reads back with its value through both.
func TestPostgresHAKillActiveUnderLoad(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	table, haTable := pgtest.Table(t, dbURL), pgtest.Table(t, dbURL)
	bin := buildCoffer(t)
	nodes := []*pgHANode{
		startPGHANode(t, bin, dbURL, "node1", table, haTable),
		startPGHANode(t, bin, dbURL, "node2", table, haTable),
	}
	c1 := newClient(t, nodes[0].api, "")
	init, err := c1.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, nodes[0].p.stderr.String())
	}
	keys := init.KeysB64[:2]
	unsealWith(t, c1, keys)
	waitUntil(t, 30*time.Second, "node1 to become active", func() bool { return nodes[0].health() == http.StatusOK })
	unsealWith(t, newClient(t, nodes[1].api, ""), keys)
	waitUntil(t, 30*time.Second, "node2 to stand by", func() bool { return nodes[1].health() == http.StatusTooManyRequests })
	c1.SetToken(init.RootToken)
	if err := c1.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	load := startWriteLoad([]string{nodes[0].api, nodes[1].api}, init.RootToken, 16)
	defer func() {
		select {
		case <-load.stop:
		default:
			load.finish()
		}
	}()
	activeNode := func() *pgHANode {
		var a *pgHANode
		waitUntil(t, pgFailoverLimit, "an active server", func() bool {
			for _, n := range nodes {
				if n.health() == http.StatusOK {
					a = n
					return true
				}
			}
			return false
		})
		return a
	}
	var failovers []time.Duration
	for round := 1; round <= 2; round++ {
		time.Sleep(2 * time.Second)
		victim := activeNode()
		before := load.count()
		victim.kill()
		killed := time.Now()
		d := failoverTime(t, load, killed, pgFailoverLimit+10*time.Second)
		t.Logf("kill %d: %s was active (%d writes acknowledged before), first write acknowledged %v after the kill", round, victim.name, before, d.Round(time.Millisecond))
		failovers = append(failovers, d)
		if a := activeNode(); a == victim {
			t.Fatalf("the killed %s is reported active", victim.name)
		}
		victim.restart(t, keys)
		waitUntil(t, 30*time.Second, victim.name+" to stand by after its restart", func() bool {
			return victim.health() == http.StatusTooManyRequests
		})
	}
	t.Logf("PostgreSQL HA failover after kill -9 (kill to first acknowledged write): %v", failovers)
	for _, d := range failovers {
		if d > pgFailoverLimit {
			t.Errorf("failover took %v, more than %v", d, pgFailoverLimit)
		}
	}
	acked := load.finish()
	t.Logf("%d writes acknowledged", len(acked))
	for _, n := range nodes {
		verifyAcked(t, n.name, n.api, init.RootToken, acked)
	}
}
