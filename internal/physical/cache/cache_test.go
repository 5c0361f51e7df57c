package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/physical/inmem/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) physical.Backend { return New(inmem.New(), 16) })
}

// counting counts Gets that reach the backend.
type counting struct {
	physical.Backend
	gets atomic.Int64
}

func (c *counting) Get(ctx context.Context, k string) (*physical.Entry, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, k)
}

func TestHitsAndInvalidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	c := New(b, 0)
	if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e, err := c.Get(ctx, "k")
		if err != nil || string(e.Value) != "v1" {
			t.Fatalf("get: %v %v", e, err)
		}
		e.Value[0] = 'X' // must not reach the cache
	}
	if n := b.gets.Load(); n != 1 {
		t.Fatalf("%d backend reads, want 1", n)
	}
	if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "v2" {
		t.Fatalf("after put: %q", e.Value)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); e != nil {
		t.Fatalf("after delete: %q", e.Value)
	}
	if err := c.Transaction(ctx, []physical.TxnOp{{Entry: &physical.Entry{Key: "k", Value: []byte("v3")}}}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); e == nil || string(e.Value) != "v3" {
		t.Fatalf("after transaction: %v", e)
	}
}

// TestNoStaleAfterWrite races readers against a writer and checks that once
// a write has returned, every later read sees it or something newer.
func TestNoStaleAfterWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := New(inmem.New(), 64)
	var done atomic.Int64 // highest version whose Put has returned
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := done.Load()
				e, err := c.Get(ctx, "k")
				if err != nil {
					t.Error(err)
					return
				}
				var got int64
				if e != nil {
					fmt.Sscan(string(e.Value), &got)
				}
				if got < floor {
					t.Errorf("read version %d after version %d was written", got, floor)
					return
				}
			}
		}()
	}
	for v := int64(1); v <= 2000; v++ {
		if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte(fmt.Sprint(v))}); err != nil {
			t.Fatal(err)
		}
		done.Store(v)
	}
	close(stop)
	wg.Wait()
}

func BenchmarkGetHit(b *testing.B) {
	ctx := context.Background()
	c := New(inmem.New(), 0)
	_ = c.Put(ctx, &physical.Entry{Key: "logical/x/metadata/app", Value: make([]byte, 200)})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = c.Get(ctx, "logical/x/metadata/app")
		}
	})
}

func TestEmptyValueStaysPresent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := New(inmem.New(), 0)
	if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte{}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second read is served from the cache
		if e, err := c.Get(ctx, "k"); err != nil || e == nil {
			t.Fatalf("read %d of an empty value: %v %v", i, e, err)
		}
	}
}

// TestByteBound: the cache holds at most its byte bound whatever the entry
// count allows, serves an entry too large to cache without caching it, and
// counts back to zero when its entries are deleted.
func TestByteBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	const maxBytes = 128 << 10
	c := NewBounded(b, 1000, maxBytes)
	val := make([]byte, 900)
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		if err := c.Put(ctx, &physical.Entry{Key: k, Value: val}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		if got := c.Bytes(); got > maxBytes {
			t.Fatalf("after %d entries the cache holds %d bytes, over its bound %d", i+1, got, maxBytes)
		}
	}
	if n := c.Len(); n < 100 || n > maxBytes/900 {
		t.Fatalf("%d entries of 900 bytes under a %d-byte bound", n, maxBytes)
	}
	if e, _ := c.Get(ctx, "k299"); e == nil || len(e.Value) != 900 {
		t.Fatalf("the newest entry is gone: %v", e)
	}
	big := make([]byte, maxBytes/maxEntryShare)
	if err := c.Put(ctx, &physical.Entry{Key: "big", Value: big}); err != nil {
		t.Fatal(err)
	}
	before := b.gets.Load()
	for range 2 {
		if e, err := c.Get(ctx, "big"); err != nil || e == nil || len(e.Value) != len(big) {
			t.Fatalf("big entry: %v %v", e, err)
		}
	}
	if n := b.gets.Load() - before; n != 2 {
		t.Fatalf("%d backend reads of an entry too large to cache, want 2", n)
	}
	for i := range 300 {
		if err := c.Delete(ctx, fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got, n := c.Bytes(), c.Len(); got != 0 || n != 0 {
		t.Fatalf("after deleting everything: %d bytes in %d entries", got, n)
	}
}
