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
	c := New(b, size)
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

// TestHitsWithoutDriftDoNotPromote: repeated hits on a working set that
// nothing pushes back take the read path only (no move to the front).
func TestHitsWithoutDriftDoNotPromote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := New(inmem.New(), 0)
	for i := range 100 {
		if err := c.Put(ctx, &physical.Entry{Key: fmt.Sprintf("k%03d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	moves := c.moves.Load()
	for range 10 {
		for i := 90; i < 100; i++ {
			if e, err := c.GetShared(ctx, fmt.Sprintf("k%03d", i)); err != nil || e == nil {
				t.Fatalf("k%03d: %v %v", i, e, err)
			}
		}
	}
	if got := c.moves.Load() - moves; got != 0 {
		t.Fatalf("%d promotions for hits on the 10 newest of 100 entries, want 0", got)
	}
	// The oldest entry has drifted past the threshold: one hit promotes it.
	if _, err := c.Get(ctx, "k000"); err != nil {
		t.Fatal(err)
	}
	if got := c.moves.Load() - moves; got != 1 {
		t.Fatalf("%d promotions for a hit on the oldest entry, want 1", got)
	}
}
