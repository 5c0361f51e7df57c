package raft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/cofferhq/coffer/internal/physical"
)

// unconfirmedRestore cuts the leader off and restores archive on it until
// raft installs the snapshot there but the cluster never confirms it
// (ErrRestoreUnconfirmed); it returns the cut-off node, still isolated.
func unconfirmedRestore(t *testing.T, c *cluster, archive []byte) int {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		lead := c.leader()
		c.isolate(lead)
		err := restore(c.nodes[lead], archive)
		if errors.Is(err, ErrRestoreUnconfirmed) {
			return lead
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			t.Fatalf("restore on a cut-off leader = %v; want ErrRestoreUnconfirmed", err)
		}
		c.reconnect(lead)
	}
}

// TestUnconfirmedRestoreResyncs is the stranded-node bug of HA.md: a
// leader installs a user restore at index L+1 (hashicorp/raft writes no log
// entry there) and loses leadership before the cluster commits it; another
// node wins without the restore and appends its own entry at L+1. Raft
// alone then refuses the new leader's entries forever, and the node keeps
// the snapshot's data. The node must come back to the cluster's data, with
// every committed write, without the restore, and follow new writes.
func TestUnconfirmedRestoreResyncs(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, 0)
	want := map[string]string{}
	for i := range 10 {
		k := fmt.Sprintf("k/%02d", i)
		c.write(k, "saved")
		want[k] = "saved"
	}
	archive, _ := archiveOf(t, c.nodes[c.leader()])
	for i := range 10 {
		k := fmt.Sprintf("k/%02d", i)
		c.write(k, "later")
		want[k] = "later"
	}
	c.converged(want)

	cut := unconfirmedRestore(t, c, archive)
	if e, err := c.nodes[cut].Get(ctx, "k/00"); err != nil || e == nil || string(e.Value) != "saved" {
		t.Fatalf("node%d after its unconfirmed restore: k/00 = %v, %v; want the snapshot's value", cut, e, err)
	}
	if _, err := os.Stat(filepath.Join(c.nodes[cut].dir, "raft", resyncMarker)); err != nil {
		t.Fatalf("no resync marker after an unconfirmed restore: %v", err)
	}
	// The others elect a leader of their own and go on without the restore.
	c.down[cut] = true
	for i := range 5 {
		k := fmt.Sprintf("after/%d", i)
		c.write(k, "x")
		want[k] = "x"
	}
	c.down[cut] = false
	c.reconnect(cut)
	c.write("reconnected", "y")
	want["reconnected"] = "y"
	c.converged(want)
	eventually(t, "the resync marker is removed", func() bool {
		_, err := os.Stat(filepath.Join(c.nodes[cut].dir, "raft", resyncMarker))
		return errors.Is(err, os.ErrNotExist)
	})
	if n := c.nodes[cut].resyncs.Load(); n != 1 {
		t.Fatalf("node%d resynced %d times; want once", cut, n)
	}
	// The node follows the cluster again: later writes reach it too.
	c.write("last", "z")
	want["last"] = "z"
	c.converged(want)
}

// TestUnconfirmedRestoreEndsConsistent cuts every node off from every
// other, so that the leader's restore is installed there but confirmed
// nowhere and nobody else can win meanwhile, then joins them again. Either
// the node that restored wins (its log is the longest) and the cluster
// takes the restore, or another node wins without it and the restoring
// node drops it: every node must end with the same data and take writes,
// and the restoring node drops its marker either way.
func TestUnconfirmedRestoreEndsConsistent(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, 0)
	c.write("k", "saved")
	archive, _ := archiveOf(t, c.nodes[c.leader()])
	c.write("k", "later")
	c.converged(map[string]string{"k": "later"})
	for i := range c.nodes {
		c.isolate(i)
	}
	cut := unconfirmedRestore(t, c, archive)
	for i := range c.nodes {
		c.reconnect(i)
	}
	c.write("after", "x")
	var value string
	eventually(t, "every node holds the same k", func() bool {
		values := map[string]bool{}
		for _, b := range c.nodes {
			e, err := b.Get(ctx, "k")
			if err != nil || e == nil {
				return false
			}
			values[string(e.Value)] = true
			value = string(e.Value)
		}
		return len(values) == 1
	})
	t.Logf("the cluster settled on k = %q (node%d resynced %d times)", value, cut, c.nodes[cut].resyncs.Load())
	c.converged(map[string]string{"k": value, "after": "x"})
	eventually(t, "the resync marker is removed", func() bool {
		_, err := os.Stat(filepath.Join(c.nodes[cut].dir, "raft", resyncMarker))
		return errors.Is(err, os.ErrNotExist)
	})
	c.write("last", "z")
	c.converged(map[string]string{"k": value, "after": "x", "last": "z"})
}

// restart closes node i and opens it again from its directory on a new
// transport, cut off; reconnect joins it to the others.
func (c *cluster) restart(i int) {
	c.t.Helper()
	dir := c.nodes[i].dir
	if err := c.nodes[i].Close(); err != nil {
		c.t.Fatal(err)
	}
	addr, tr := hraft.NewInmemTransport(hraft.ServerAddress(fmt.Sprintf("node%d", i)))
	b, err := Open(Config{
		Path: dir, NodeID: string(addr), Transport: tr, NoBootstrap: true, TrailingLogs: c.trailingLogs,
		PerformanceMultiplier: 1, baseTimeout: 500 * time.Millisecond,
		autopilotUpdate: 100 * time.Millisecond, autopilotReconcile: 200 * time.Millisecond,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = b.Close() })
	c.mu.Lock()
	c.nodes[i], c.trans[i] = b, tr
	c.mu.Unlock()
}

// The marker outlives a restart: a node stopped while stranded resyncs
// once it runs again.
func TestUnconfirmedRestoreResyncsAfterRestart(t *testing.T) {
	c := newCluster(t, 3, 0)
	want := map[string]string{"k": "later"}
	c.write("k", "saved")
	archive, _ := archiveOf(t, c.nodes[c.leader()])
	c.write("k", "later")
	c.converged(want)
	cut := unconfirmedRestore(t, c, archive)
	c.down[cut] = true
	c.write("after", "x")
	want["after"] = "x"
	c.restart(cut)
	if p := c.nodes[cut].watch.armed.Load(); p == nil {
		t.Fatal("the node reopened unarmed after an unconfirmed restore")
	}
	c.down[cut] = false
	c.reconnect(cut)
	c.write("reconnected", "y")
	want["reconnected"] = "y"
	c.converged(want)
	if n := c.nodes[cut].resyncs.Load(); n != 1 {
		t.Fatalf("node%d resynced %d times after its restart; want once", cut, n)
	}
}

// A marker left by a crash before raft installed anything arms the node
// on its latest snapshot, which the next applied entry confirms; with no
// snapshot at all the marker is simply removed.
func TestPendingRestoreMarkerClears(t *testing.T) {
	dir := t.TempDir()
	b := openSingle(t, dir)
	fill(t, b, 5)
	if err := b.r().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "raft", resyncMarker)
	if err := os.WriteFile(marker, []byte("pending\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Only an armed node's monitor removes the marker; whether it is
	// still armed when Open returns depends on how fast the node leads
	// and applies an entry (it failed that way once under load).
	b = openSingle(t, dir)
	fillRange(t, b, 5, 6)
	eventually(t, "the marker is removed", func() bool {
		_, err := os.Stat(marker)
		return errors.Is(err, os.ErrNotExist)
	})
	if n := b.resyncs.Load(); n != 0 {
		t.Fatalf("a single node resynced %d times", n)
	}

	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "raft", resyncMarker), []byte("pending\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := openSingle(t, empty)
	if _, err := os.Stat(filepath.Join(empty, "raft", resyncMarker)); !errors.Is(err, os.ErrNotExist) || e.watch.armed.Load() != nil {
		t.Fatalf("a pending marker without any snapshot stayed: %v", err)
	}
}

// TestDropRestoreTakesLaterTermEntries: after an unconfirmed restore at R
// (term T) the node may lead again at a later term and append its own
// entries after R before a leader without the restore shows up. Those are
// no more committed than the restore, so the drop removes them too; it
// used to refuse, with raft already stopped, and the node never ran again.
func TestDropRestoreTakesLaterTermEntries(t *testing.T) {
	b := openSingle(t, t.TempDir())
	if err := b.Put(context.Background(), &physical.Entry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	r := b.r()
	last := r.LastIndex()
	term, err := strconv.ParseUint(r.Stats()["term"], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	p := &restorePoint{index: last + 1, term: term}
	if err := b.logs.StoreLogs([]*hraft.Log{
		{Index: last + 2, Term: term, Type: hraft.LogNoop},
		{Index: last + 3, Term: term + 1, Type: hraft.LogNoop},
	}); err != nil {
		t.Fatal(err)
	}
	confirmed, err := b.dropRestore(p, last)
	if err != nil || confirmed {
		t.Fatalf("dropRestore = %v, %v; want the restore dropped", confirmed, err)
	}
	if got, err := b.logs.LastIndex(); err != nil || got != last {
		t.Fatalf("last log index %d (%v) after the drop; want %d", got, err, last)
	}
}
