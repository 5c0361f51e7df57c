package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cofferhq/coffer/internal/physical"
)

// cluster is nodes joined over raft's in-memory transport, in process.
type cluster struct {
	t     *testing.T
	nodes []*Backend
	down  map[int]bool
}

// newCluster starts n nodes: the first bootstraps and the others are added
// as voters, the way joining will do it.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	addrs := make([]hraft.ServerAddress, n)
	trans := make([]*hraft.InmemTransport, n)
	for i := range n {
		addrs[i], trans[i] = hraft.NewInmemTransport(hraft.ServerAddress(fmt.Sprintf("node%d", i)))
	}
	for i := range n {
		for j := range n {
			if i != j {
				trans[i].Connect(addrs[j], trans[j])
			}
		}
	}
	c := &cluster{t: t, down: map[int]bool{}}
	for i := range n {
		b, err := Open(Config{
			Path: t.TempDir(), NodeID: string(addrs[i]), Transport: trans[i], NoBootstrap: i > 0,
			PerformanceMultiplier: 1, baseTimeout: 500 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		c.nodes = append(c.nodes, b)
	}
	eventually(t, "node0 leads", c.nodes[0].IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for i := 1; i < n; i++ {
		if err := c.nodes[0].AddVoter(ctx, string(addrs[i]), string(addrs[i])); err != nil {
			t.Fatalf("add node%d: %v", i, err)
		}
	}
	return c
}

// leader returns the index of the node that leads now, waiting for one.
func (c *cluster) leader() int {
	c.t.Helper()
	found := -1
	eventually(c.t, "a leader is elected", func() bool {
		for i, b := range c.nodes {
			if !c.down[i] && b.IsLeader() {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// write puts key on whichever node leads, retrying while leadership moves
// (ErrNotLeader is the only error it retries), and returns once applied.
func (c *cluster) write(key, value string) {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := c.nodes[c.leader()].Put(context.Background(), &physical.Entry{Key: key, Value: []byte(value)})
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			c.t.Fatalf("write %s: %v", key, err)
		}
	}
}

// converged waits until every running node holds want.
func (c *cluster) converged(want map[string]string) {
	c.t.Helper()
	for i, b := range c.nodes {
		if c.down[i] {
			continue
		}
		eventually(c.t, fmt.Sprintf("node%d holds all %d keys", i, len(want)), func() bool {
			for k, v := range want {
				e, err := b.Get(context.Background(), k)
				if err != nil || e == nil || !bytes.Equal(e.Value, []byte(v)) {
					return false
				}
			}
			return true
		})
	}
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := newCluster(t, 3)
	want := map[string]string{}
	for i := range 30 {
		k, v := fmt.Sprintf("k/%02d", i), fmt.Sprintf("v%d", i)
		c.write(k, v)
		want[k] = v
	}
	// A transaction is one log entry: every node applies all of it.
	lead := c.leader()
	err := c.nodes[lead].Transaction(context.Background(), []physical.TxnOp{
		{Entry: &physical.Entry{Key: "txn/a", Value: []byte("1")}},
		{Entry: &physical.Entry{Key: "txn/b", Value: []byte("2")}},
		{Delete: true, Entry: &physical.Entry{Key: "k/00"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want["txn/a"], want["txn/b"] = "1", "2"
	delete(want, "k/00")
	c.converged(want)
	for i, b := range c.nodes {
		if e, _ := b.Get(context.Background(), "k/00"); e != nil {
			t.Fatalf("node%d still holds the key the transaction deleted", i)
		}
	}

	// A follower refuses writes at once, naming the leader.
	follower := (lead + 1) % 3
	err = c.nodes[follower].Put(context.Background(), &physical.Entry{Key: "nope", Value: []byte("x")})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write on a follower = %v; want ErrNotLeader", err)
	}

	// The leader dies; the other two elect one that holds every write
	// acknowledged before, and takes new ones.
	if err := c.nodes[lead].Close(); err != nil {
		t.Fatal(err)
	}
	c.down[lead] = true
	newLead := c.leader()
	if newLead == lead {
		t.Fatalf("node%d was closed but still leads", lead)
	}
	c.converged(want)
	for i := range 10 {
		k, v := fmt.Sprintf("after/%d", i), "x"
		c.write(k, v)
		want[k] = v
	}
	c.converged(want)
}
