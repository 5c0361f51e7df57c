package raft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
