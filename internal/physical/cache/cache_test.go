package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if n := b.gets.Load(); n != 0 {
		t.Fatalf("%d backend reads, want 0: the write fills the cache", n)
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
	putVersions(t, c, &done, 2000)
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

func TestPurgeDropsEntriesWrittenBeneath(t *testing.T) {
	ctx := context.Background()
	under := inmem.New()
	c := New(under, 0)
	if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// Another server writes the shared storage, beneath this cache.
	if err := under.Put(ctx, &physical.Entry{Key: "k", Value: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Get(ctx, "k"); string(e.Value) != "old" {
		t.Fatalf("before Purge got %q; the test needs the cached value", e.Value)
	}
	c.Purge()
	if e, _ := c.Get(ctx, "k"); e == nil || string(e.Value) != "new" {
		t.Fatalf("after Purge got %v, want new", e)
	}
}

// failing refuses every transaction.
type failing struct{ physical.Backend }

func (failing) Transaction(context.Context, []physical.TxnOp) error { return errors.New("refused") }

// A write fills the cache with what it put (a delete drops the key); a
// failed write, and a write that ends while another write to its stripe is
// in flight, leave the next read to the backend.
func TestWritesFillTheCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	c := New(b, 0)
	reads := func(key string, want string) int64 {
		t.Helper()
		before := b.gets.Load()
		e, err := c.Get(ctx, key)
		if err != nil || (e == nil) != (want == "") || (e != nil && string(e.Value) != want) {
			t.Fatalf("Get(%q) = %v, %v; want %q", key, e, err, want)
		}
		return b.gets.Load() - before
	}
	if err := c.Transaction(ctx, []physical.TxnOp{
		{Entry: &physical.Entry{Key: "a", Value: []byte("1")}},
		{Entry: &physical.Entry{Key: "a", Value: []byte("2")}}, // the last op wins
		{Entry: &physical.Entry{Key: "b", Value: []byte("x")}},
		{Delete: true, Entry: &physical.Entry{Key: "b"}},
	}); err != nil {
		t.Fatal(err)
	}
	if n := reads("a", "2"); n != 0 {
		t.Fatalf("%d backend reads after a transaction, want 0", n)
	}
	if n := reads("b", ""); n != 1 {
		t.Fatalf("%d backend reads of a deleted key, want 1: a delete drops the key", n)
	}
	f := New(failing{Backend: b}, 0)
	_ = f.Put(ctx, &physical.Entry{Key: "f", Value: []byte("v")})
	if err := f.Transaction(ctx, []physical.TxnOp{{Entry: &physical.Entry{Key: "f", Value: []byte("w")}}}); err == nil {
		t.Fatal("the failing backend accepted a transaction")
	}
	before := b.gets.Load()
	if e, _ := f.Get(ctx, "f"); e == nil || string(e.Value) != "v" || b.gets.Load() == before {
		t.Fatalf("after a failed write: %v from the cache, want v from the backend", e)
	}

	// A second write to the same key held in flight: the first must not
	// fill the cache, since the held one may commit after it.
	gate := make(chan struct{})
	slow := New(&held{Backend: b, gate: gate, key: "s"}, 0)
	done := make(chan error)
	go func() { done <- slow.Put(ctx, &physical.Entry{Key: "s", Value: []byte("held")}) }()
	for !slow.busy("s") {
		time.Sleep(time.Millisecond)
	}
	if err := slow.Put(ctx, &physical.Entry{Key: "s", Value: []byte("quick")}); err != nil {
		t.Fatal(err)
	}
	before = b.gets.Load()
	if e, _ := slow.Get(ctx, "s"); e == nil || string(e.Value) != "quick" || b.gets.Load() == before {
		t.Fatalf("with a write in flight: %v, want quick from the backend", e)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	before = b.gets.Load()
	if e, _ := slow.Get(ctx, "s"); e == nil || string(e.Value) != "held" || b.gets.Load() == before {
		t.Fatalf("after overlapping writes: %v, want held from the backend", e)
	}
}

// held blocks the first Put of key until gate closes.
type held struct {
	physical.Backend
	gate chan struct{}
	key  string
	once sync.Once
}

func (h *held) Put(ctx context.Context, e *physical.Entry) error {
	if e.Key == h.key {
		first := false
		h.once.Do(func() { first = true })
		if first {
			<-h.gate
		}
	}
	return h.Backend.Put(ctx, e)
}

// busy reports whether a write to key is in flight.
func (c *Cache) busy(key string) bool {
	s := c.stripe(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writers > 0
}

// jittery delays every write before and after it reaches the backend, so
// that writes commit and return in different orders.
type jittery struct{ physical.Backend }

func (j jittery) Put(ctx context.Context, e *physical.Entry) error {
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	err := j.Backend.Put(ctx, e)
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return err
}

// Writers racing on a few keys (and on shared stripes) leave the cache
// agreeing with the backend on every key once they are done.
func TestRacingWritesLeaveCacheCoherent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := inmem.New()
	c := New(jittery{b}, 0)
	keys := []string{"k0", "k1", "k2", "k3"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 300 {
				k := keys[rand.IntN(len(keys))]
				var err error
				if i%7 == 0 {
					err = c.Delete(ctx, k)
				} else {
					err = c.Put(ctx, &physical.Entry{Key: k, Value: []byte(fmt.Sprint(w, "-", i))})
				}
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = c.Get(ctx, keys[rand.IntN(len(keys))])
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		want, _ := b.Get(ctx, k)
		got, err := c.Get(ctx, k)
		if err != nil || (got == nil) != (want == nil) || (got != nil && string(got.Value) != string(want.Value)) {
			t.Fatalf("%s: cache %v, backend %v", k, got, want)
		}
	}
}

// TestGetShared: a hit hands out the cached value itself (two reads share
// one array), a plain Get still copies (changing its value changes nothing
// cached), a miss reads through and caches, and a write replaces the
// cached value rather than changing the one already handed out.
func TestGetShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := &counting{Backend: inmem.New()}
	if err := b.Backend.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	c := admitAll(New(b, 0))
	first, err := physical.GetShared(ctx, c, "k")
	if err != nil || first == nil || string(first.Value) != "v1" || b.gets.Load() != 1 {
		t.Fatalf("miss: %v %v, %d backend reads", first, err, b.gets.Load())
	}
	one, _ := physical.GetShared(ctx, c, "k")
	two, _ := physical.GetShared(ctx, c, "k")
	if b.gets.Load() != 1 || &one.Value[0] != &two.Value[0] {
		t.Fatalf("hits: %d backend reads, shared array %v", b.gets.Load(), &one.Value[0] == &two.Value[0])
	}
	copied, _ := c.Get(ctx, "k")
	copied.Value[0] = 'X'
	if &copied.Value[0] == &one.Value[0] || string(one.Value) != "v1" {
		t.Fatalf("Get handed out the cached array: shared value now %q", one.Value)
	}
	if err := c.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	after, _ := physical.GetShared(ctx, c, "k")
	if string(after.Value) != "v2" || string(one.Value) != "v1" {
		t.Fatalf("after a put: shared %q, earlier %q", after.Value, one.Value)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if gone, err := physical.GetShared(ctx, c, "k"); gone != nil || err != nil {
		t.Fatalf("after a delete: %v %v", gone, err)
	}
}

// putVersions puts versions 1…n of "k" in turn, storing each in done once
// its Put has returned, for the readers that race it.
func putVersions(t *testing.T, c *Cache, done *atomic.Int64, n int64) {
	t.Helper()
	for v := int64(1); v <= n; v++ {
		if err := c.Put(context.Background(), &physical.Entry{Key: "k", Value: []byte(fmt.Sprint(v))}); err != nil {
			t.Fatal(err)
		}
		done.Store(v)
	}
}
