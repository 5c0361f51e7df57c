package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cofferhq/coffer/internal/physical"
)

// cluster is nodes joined over raft's in-memory transport, in process.
type cluster struct {
	t *testing.T
	// mu guards appends to nodes against running(), read from the
	// heartbeats goroutine; the test goroutine reads nodes freely.
	mu           sync.Mutex
	nodes        []*Backend
	trans        []*hraft.InmemTransport
	down         map[int]bool
	trailingLogs uint64
}

// newCluster starts n nodes: the first bootstraps and the others are added
// as voters, the way joining will do it.
func newCluster(t *testing.T, n int, trailingLogs uint64) *cluster {
	t.Helper()
	c := &cluster{t: t, down: map[int]bool{}, trailingLogs: trailingLogs}
	for range n {
		c.add()
	}
	return c
}

// add starts one more node, connected both ways to every earlier one; the
// first bootstraps, the others are added as voters by the leader.
func (c *cluster) add() { c.t.Helper(); c.addAs(true) }

// addAs is add, the new node a voter or not.
func (c *cluster) addAs(voter bool) {
	c.t.Helper()
	i := len(c.nodes)
	addr, tr := hraft.NewInmemTransport(hraft.ServerAddress(fmt.Sprintf("node%d", i)))
	for j, other := range c.trans {
		tr.Connect(other.LocalAddr(), other)
		if !c.down[j] {
			other.Connect(addr, tr)
		}
	}
	c.trans = append(c.trans, tr)
	b, err := Open(Config{
		Path: c.t.TempDir(), NodeID: string(addr), Transport: tr, NoBootstrap: i > 0, TrailingLogs: c.trailingLogs,
		PerformanceMultiplier: 1, baseTimeout: 500 * time.Millisecond,
		autopilotUpdate: 100 * time.Millisecond, autopilotReconcile: 200 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = b.Close() })
	c.mu.Lock()
	c.nodes = append(c.nodes, b)
	c.mu.Unlock()
	if i == 0 {
		eventually(c.t, "node0 leads", b.IsLeader)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c.onLeader(fmt.Sprintf("add node%d", i), func(_ int, lead *Backend) error {
		if voter {
			return lead.AddVoter(ctx, string(addr), string(addr))
		}
		return lead.AddNonvoter(ctx, string(addr), string(addr))
	})
}

// running returns the nodes, safe to call while another goroutine adds.
func (c *cluster) running() []*Backend {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
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

// onLeader runs op on whichever node leads and, while op fails with
// ErrNotLeader, again on the node that leads then, for up to waitFor; it
// returns the index of the node op succeeded on. On a loaded machine a
// leader can miss its lease (LeaderLeaseTimeout is 250 ms here) between
// leader() and op, or during op: a leader-only operation in a test goes
// through onLeader rather than through an index taken earlier.
func (c *cluster) onLeader(what string, op func(i int, lead *Backend) error) int {
	c.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		i := c.leader()
		err := op(i, c.nodes[i])
		if err == nil {
			return i
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			c.t.Fatalf("%s on node%d: %v", what, i, err)
		}
		c.t.Logf("%s on node%d: %v; again on the node that leads now", what, i, err)
	}
}

// write puts key on whichever node leads, retrying while leadership moves
// (ErrNotLeader is the only error it retries), and returns once applied.
func (c *cluster) write(key, value string) {
	c.t.Helper()
	c.onLeader("write "+key, func(_ int, lead *Backend) error {
		return lead.Put(context.Background(), &physical.Entry{Key: key, Value: []byte(value)})
	})
}

// isolate cuts node i off from every other node, both ways; it keeps
// running. reconnect undoes it.
func (c *cluster) isolate(i int) {
	c.trans[i].DisconnectAll()
	for j, tr := range c.trans {
		if j != i {
			tr.Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// reconnect joins node i, cut off by isolate, to the others again.
func (c *cluster) reconnect(i int) {
	for j, tr := range c.trans {
		if j != i {
			tr.Connect(c.trans[i].LocalAddr(), c.trans[i])
			c.trans[i].Connect(tr.LocalAddr(), tr)
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
		holds := func() bool {
			for k, v := range want {
				e, err := b.Get(context.Background(), k)
				if err != nil || e == nil || !bytes.Equal(e.Value, []byte(v)) {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(waitFor)
		for !holds() {
			if time.Now().After(deadline) {
				c.dump()
				c.t.Fatalf("after %s: node%d still does not hold all %d keys", waitFor, i, len(want))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// dump logs each node's raft state, for a test that is about to fail.
func (c *cluster) dump() {
	for i, b := range c.running() {
		st := b.r().Stats()
		c.t.Logf("node%d: %s term %s last %s commit %s applied %s snapshot %s; armed %v diverged %v resyncs %d",
			i, st["state"], st["term"], st["last_log_index"], st["commit_index"], st["applied_index"],
			st["last_snapshot_index"], b.watch.armed.Load(), b.watch.diverged.Load(), b.resyncs.Load())
	}
}

func TestClusterReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	c := newCluster(t, 3, 0)
	want := map[string]string{}
	for i := range 30 {
		k, v := fmt.Sprintf("k/%02d", i), fmt.Sprintf("v%d", i)
		c.write(k, v)
		want[k] = v
	}
	// A transaction is one log entry: every node applies all of it.
	lead := c.onLeader("transaction", func(_ int, lead *Backend) error {
		return lead.Transaction(context.Background(), []physical.TxnOp{
			{Entry: &physical.Entry{Key: "txn/a", Value: []byte("1")}},
			{Entry: &physical.Entry{Key: "txn/b", Value: []byte("2")}},
			{Delete: true, Entry: &physical.Entry{Key: "k/00"}},
		})
	})
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
	err := c.nodes[follower].Put(context.Background(), &physical.Entry{Key: "nope", Value: []byte("x")})
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

// TestNewNodeCatchesUpFromSnapshot adds a node after the leader's log was
// compacted behind a snapshot: raft must send it the snapshot (our stream,
// restored by the new node's state machine) and then the entries after it.
func TestNewNodeCatchesUpFromSnapshot(t *testing.T) {
	c := newCluster(t, 2, 1)
	want := map[string]string{}
	for i := range 40 {
		k, v := fmt.Sprintf("early/%02d", i), fmt.Sprintf("v%d", i)
		c.write(k, v)
		want[k] = v
	}
	lead := c.nodes[c.leader()]
	if err := lead.r().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := lead.logs.FirstIndex(); err != nil || first < 30 {
		t.Fatalf("leader's first log index = %d, %v; want the log compacted", first, err)
	}
	c.write("late", "x")
	want["late"] = "x"
	c.add()
	c.converged(want)
	if got := c.nodes[2].r().Stats()["last_snapshot_index"]; got == "0" || got == "" {
		t.Fatalf("the new node's last snapshot index is %q: it caught up without installing the snapshot", got)
	}
	c.write("after-join", "y")
	want["after-join"] = "y"
	c.converged(want)
}

// TestLeaderWithoutQuorumFailsWrites closes both followers: a write on the
// old leader must fail with ErrNotLeader once it steps down, not hang.
func TestLeaderWithoutQuorumFailsWrites(t *testing.T) {
	c := newCluster(t, 3, 0)
	c.write("before", "x")
	lead := c.leader()
	for i, b := range c.nodes {
		if i != lead {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			c.down[i] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	err := c.nodes[lead].Put(ctx, &physical.Entry{Key: "lost", Value: []byte("y")})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write without a quorum = %v after %s; want ErrNotLeader", err, time.Since(start))
	}
	eventually(t, "the old leader steps down", func() bool { return !c.nodes[lead].IsLeader() })
	if e, err := c.nodes[lead].Get(ctx, "before"); err != nil || e == nil {
		t.Fatalf("reads of applied data still work: %v, %v", e, err)
	}
}
