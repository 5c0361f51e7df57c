package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// admitAll turns c's doorkeeper off, for tests of what happens to a value
// once it is admitted.
func admitAll(c *Cache) *Cache {
	c.door = nil
	return c
}

// TestDoorkeeper: a value read from storage fills the cache at its second
// miss, not its first, through Get and through a read of several keys;
// reads of many keys once each leave the cached ones in place; writes fill
// as before.
func TestDoorkeeper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	const size = 64
	for i := range 8 * size {
		if err := b.Backend.Put(ctx, &physical.Entry{Key: fmt.Sprintf("k%04d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	c := New(b, size)
	for range 2 {
		if _, err := c.Get(ctx, "k0000"); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := c.BeginRead(ctx)
	for range 2 {
		if _, _, err := r.Get(ctx, "k0001"); err != nil {
			t.Fatal(err)
		}
	}
	r.Done()
	if c.Len() != 2 {
		t.Fatalf("%d entries after two reads of each of two keys; want 2", c.Len())
	}
	if err := c.Put(ctx, &physical.Entry{Key: "w", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	const once = 4 * size
	for i := 2; i < 2+once; i++ { // each once: none is admitted but for a rare shared bit
		if _, err := c.Get(ctx, fmt.Sprintf("k%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := b.gets.Load()
	for _, k := range []string{"k0000", "k0001", "w"} {
		if e, err := c.Get(ctx, k); err != nil || e == nil {
			t.Fatalf("%s: %v %v", k, e, err)
		}
	}
	// A key whose bit another key set is admitted at its first miss (a
	// false positive, rare with a few hundred of a million bits set); without the doorkeeper
	// every one-time read would fill, and the cache would hold 64.
	if n := b.gets.Load() - before; n != 0 || c.Len() > 3+2 {
		t.Fatalf("after %d one-time reads: %d entries, %d storage reads for the cached three", once, c.Len(), n)
	}
}

// TestDoorkeeperForgets: after its window the filter starts over, so a key
// missed once long ago is not admitted at its next miss.
func TestDoorkeeperForgets(t *testing.T) {
	t.Parallel()
	d := newDoorkeeper(4) // a window of 16 first misses
	if d.admit("old") {
		t.Fatal("first miss admitted")
	}
	if !d.admit("old") {
		t.Fatal("second miss not admitted")
	}
	for i := 0; ; i++ { // until the window ends and the filter starts over
		d.admit(fmt.Sprintf("key-%d", i))
		if d.marks.Load() == 0 {
			break
		}
	}
	if d.admit("old") {
		t.Fatal("a key from before the window's end admitted at once")
	}
}

// BenchmarkWideReads reads keys at random from 200,000 stored, 32 times
// the cache's size, as a million-secret store read at random does: with
// the doorkeeper a miss no longer evicts and fills.
func BenchmarkWideReads(b *testing.B) {
	ctx := context.Background()
	be := inmem.New()
	const keys = 200_000
	for i := range keys {
		if err := be.Put(ctx, &physical.Entry{Key: fmt.Sprintf("logical/kv/metadata/bench/key-%d", i), Value: make([]byte, 300)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, door := range []bool{false, true} {
		b.Run(fmt.Sprintf("doorkeeper=%v", door), func(b *testing.B) {
			c := New(be, keys/32)
			if !door {
				admitAll(c)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				for pb.Next() {
					if _, err := c.GetShared(ctx, fmt.Sprintf("logical/kv/metadata/bench/key-%d", r.IntN(keys))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
