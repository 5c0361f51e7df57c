package bolt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical"
)

func put(k string) []physical.TxnOp {
	return []physical.TxnOp{{Entry: &physical.Entry{Key: k, Value: []byte("v")}}}
}

// A commit shared with a failing transaction: the others are committed,
// the failing one is not, and each learns its own outcome.
func TestSharedCommitIsolatesFailure(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bad := append(put("bad/1"), put(string(make([]byte, 40000)))...) // key over bbolt's maximum
	batch := []*pending{{ops: put("good/1"), done: make(chan error, 1)}, {ops: bad, done: make(chan error, 1)}, {ops: put("good/2"), done: make(chan error, 1)}}
	b.commit.run(batch)
	for i, want := range []bool{true, false, true} {
		if err := <-batch[i].done; (err == nil) != want {
			t.Fatalf("transaction %d: err %v", i, err)
		}
	}
	ctx := context.Background()
	for k, want := range map[string]bool{"good/1": true, "good/2": true, "bad/1": false} {
		if e, _ := b.Get(ctx, k); (e != nil) != want {
			t.Fatalf("%s present = %v, want %v", k, e != nil, want)
		}
	}
}

// Many concurrent writers: every acknowledged write is there, and the
// committer is idle again afterwards.
func TestConcurrentCommitsAllLand(t *testing.T) {
	for name, size := range map[string]int{"batches of 4": 4, "unbounded (0)": 0} {
		t.Run(name, func(t *testing.T) { concurrentCommits(t, size) })
	}
}

func concurrentCommits(t *testing.T, maxBatch int) {
	b, err := Open(t.TempDir(), WithMaxBatchSize(maxBatch))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				if err := b.Put(ctx, &physical.Entry{Key: fmt.Sprintf("w%d/%d", w, i), Value: []byte("v")}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for w := range 16 {
		got, err := b.List(ctx, fmt.Sprintf("w%d/", w))
		if err != nil || len(got) != 20 {
			t.Fatalf("writer %d: %d keys, %v", w, len(got), err)
		}
	}
	// The goroutine that committed the last batch answers its writers
	// before it looks at the queue again, so it may take a moment to stop.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b.commit.mu.Lock()
		running, queued := b.commit.running, len(b.commit.queue)
		b.commit.mu.Unlock()
		if !running && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committer not idle 5s after the last write: running %v, %d queued", running, queued)
		}
	}
}
