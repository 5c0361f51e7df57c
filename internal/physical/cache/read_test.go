package cache

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// snapshots is a backend whose reads are snapshots taken at BeginRead, as
// bbolt's are, and which counts the reads it begins.
type snapshots struct {
	physical.Backend
	mu     sync.Mutex
	data   map[string][]byte
	begins int
}

func newSnapshots() *snapshots { return &snapshots{Backend: inmem.New(), data: map[string][]byte{}} }

func (s *snapshots) Put(ctx context.Context, e *physical.Entry) error {
	s.mu.Lock()
	s.data[e.Key] = append([]byte{}, e.Value...)
	s.mu.Unlock()
	return s.Backend.Put(ctx, e)
}

func (s *snapshots) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	delete(s.data, key)
	s.mu.Unlock()
	return s.Backend.Delete(ctx, key)
}

func (s *snapshots) BeginRead(context.Context) (physical.ReadTx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begins++
	return snapshotRead(maps.Clone(s.data)), nil
}

type snapshotRead map[string][]byte

func (r snapshotRead) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := r[key]
	return v, ok, nil
}

func (r snapshotRead) Done() {}

func readKey(t *testing.T, r physical.ReadTx, key string) string {
	t.Helper()
	v, found, err := r.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return "<absent>"
	}
	return string(v)
}

// seededSnapshots is a snapshotting backend holding a=a1 and b=b1, and
// an empty cache over it.
func seededSnapshots(t *testing.T, ctx context.Context) (*snapshots, *Cache) {
	t.Helper()
	b := newSnapshots()
	for _, k := range []string{"a", "b"} {
		if err := b.Put(ctx, &physical.Entry{Key: k, Value: []byte(k + "1")}); err != nil {
			t.Fatal(err)
		}
	}
	return b, New(b, 0)
}

// TestReadFillsFromOneBackendRead: misses share one backend read, begun
// at the first miss; what they find is cached; hits begin none.
func TestReadFillsFromOneBackendRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, c := seededSnapshots(t, ctx)
	admitAll(c)
	r, _ := c.BeginRead(ctx)
	if got := readKey(t, r, "a") + readKey(t, r, "b") + readKey(t, r, "c"); got != "a1b1<absent>" {
		t.Fatalf("read %q", got)
	}
	r.Done()
	if b.begins != 1 || c.Len() != 3 {
		t.Fatalf("%d backend reads, %d entries cached; want 1 and 3", b.begins, c.Len())
	}
	r, _ = c.BeginRead(ctx)
	defer r.Done()
	if got := readKey(t, r, "a") + readKey(t, r, "c"); got != "a1<absent>" || b.begins != 1 {
		t.Fatalf("hits read %q with %d backend reads", got, b.begins)
	}
}

// TestNoStaleFromAnOldSnapshot: a write that ends after the backend's
// read began is not in its snapshot; a later miss in that read must
// neither serve nor cache the older value.
func TestNoStaleFromAnOldSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c := seededSnapshots(t, ctx)
	r, _ := c.BeginRead(ctx)
	defer r.Done()
	if got := readKey(t, r, "a"); got != "a1" { // begins the snapshot
		t.Fatalf("a = %q", got)
	}
	if err := c.Put(ctx, &physical.Entry{Key: "b", Value: []byte("b2")}); err != nil {
		t.Fatal(err)
	}
	c.lru.Remove("b") // evicted since
	if err := c.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, r, "b") + readKey(t, r, "a"); got != "b2<absent>" {
		t.Fatalf("after the writes the read found %q, want b2<absent>", got)
	}
	for _, k := range []string{"a", "b"} {
		if e, _ := c.Get(ctx, k); e != nil && string(e.Value) == k+"1" {
			t.Fatalf("%s: the cache serves %q, written over", k, e.Value)
		}
	}
}

// TestNoStaleThroughReads races reads of two keys (the first begins the
// backend's snapshot) against a writer and against evictions, and checks
// that once a write has returned, every read begun later sees it or
// something newer, and that the cache ends holding the last write.
func TestNoStaleThroughReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newSnapshots()
	c := New(b, 64)
	if err := c.Put(ctx, &physical.Entry{Key: "first", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64 // highest version whose Put has returned
	var wg sync.WaitGroup
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	wg.Go(func() {
		for !stopped() {
			c.lru.Remove("first")
			c.lru.Remove("k")
		}
	})
	for range 4 {
		wg.Go(func() {
			for !stopped() {
				floor := done.Load()
				r, _ := c.BeginRead(ctx)
				_, _, err := r.Get(ctx, "first")
				v, _, err2 := r.Get(ctx, "k")
				r.Done()
				if err != nil || err2 != nil {
					t.Error(err, err2)
					return
				}
				var got int64
				fmt.Sscan(string(v), &got)
				if got < floor {
					t.Errorf("read version %d after version %d was written", got, floor)
					return
				}
			}
		})
	}
	putVersions(t, c, &done, 2000)
	close(stop)
	wg.Wait()
	if e, _ := c.Get(ctx, "k"); e == nil || string(e.Value) != "2000" {
		t.Fatalf("the cache ends with %v", e)
	}
}
