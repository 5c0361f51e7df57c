package cache

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// TestHotEntrySurvivesChurn: an entry read between every fill of a full
// cache stays cached, though most of its hits only take the read lock, and
// the entries nobody reads are the ones evicted.
func TestHotEntrySurvivesChurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	const size = 64
	c := admitAll(New(b, size))
	for i := range 4 * size {
		if err := b.Backend.Put(ctx, &physical.Entry{Key: fmt.Sprintf("k%03d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Put(ctx, &physical.Entry{Key: "hot", Value: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 * size {
		if _, err := c.Get(ctx, fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
		before := b.gets.Load()
		if e, err := c.Get(ctx, "hot"); err != nil || e == nil || string(e.Value) != "h" {
			t.Fatalf("hot after %d fills: %v %v", i+1, e, err)
		}
		if b.gets.Load() != before {
			t.Fatalf("hot was evicted after %d fills of a %d-entry cache", i+1, size)
		}
	}
	if n := c.Len(); n != size {
		t.Fatalf("%d entries, want %d", n, size)
	}
	if e, _ := c.lru.Peek("k000"); e != nil {
		t.Fatal("the oldest unread entry is still cached")
	}
}

// TestHitsWithoutDriftDoNotPromote: hits on entries near the front take
// the read path only, and a working set within an eighth of the capacity,
// read in turn, settles with no promotions after one pass (a share of the
// entries held instead would promote on every hit).
func TestHitsWithoutDriftDoNotPromote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const size = 800 // promotes after 100 moves
	c := New(inmem.New(), size)
	key := func(i int) string { return fmt.Sprintf("k%03d", i) }
	for i := range 200 {
		if err := c.Put(ctx, &physical.Entry{Key: key(i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(from, to int) uint64 {
		t.Helper()
		moves := c.moves.Load()
		for i := from; i < to; i++ {
			if e, err := c.GetShared(ctx, key(i)); err != nil || e == nil {
				t.Fatalf("%s: %v %v", key(i), e, err)
			}
		}
		return c.moves.Load() - moves
	}
	if n := read(150, 200); n != 0 {
		t.Fatalf("%d promotions for hits on the 50 newest entries, want 0", n)
	}
	if n := read(0, 90); n != 90 {
		t.Fatalf("%d promotions for hits on 90 entries 110 or more places back, want 90", n)
	}
	for pass := range 3 {
		if n := read(0, 90); n != 0 {
			t.Fatalf("pass %d over a working set of 90: %d promotions, want 0", pass+2, n)
		}
	}
}
