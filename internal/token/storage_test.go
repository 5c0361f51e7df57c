package token

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestStorageNeverHoldsTokenID greps every key and value for every token
// issued, including a caller-chosen root ID.
func TestStorageNeverHoldsTokenID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ids := []string{h.root}
	dev, err := h.s.CreateRoot(t.Context(), "dev-root-token-123")
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, dev)
	parent := h.create(t, dev, map[string]any{"policies": "a", "meta": map[string]any{"m": "v"}})
	ids = append(ids, parent.ClientToken)
	ids = append(ids, h.create(t, parent.ClientToken, map[string]any{"num_uses": 4}).ClientToken)
	if _, _, err := h.s.Renew(t.Context(), h.s.HashID(parent.ClientToken), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Use(t.Context(), ids[3]); err != nil {
		t.Fatal(err)
	}
	keys, err := logical.CollectKeys(t.Context(), h.storage, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 9 {
		t.Fatalf("only %d keys stored: %v", len(keys), keys)
	}
	for _, k := range keys {
		e, _ := h.storage.Get(t.Context(), k)
		for _, id := range ids {
			if strings.Contains(k, id) || bytes.Contains(e.Value, []byte(id)) {
				t.Fatalf("token ID found in storage at %q", k)
			}
		}
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	s2, err := New(t.Context(), Config{Storage: h.storage, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s2.Lookup(t.Context(), a.ClientToken); e == nil {
		t.Fatal("token lost on reopen: salt not reused")
	}
	h.clock.Advance(2 * time.Hour)
	if n, err := s2.SweepExpired(t.Context()); n != 1 || err != nil {
		t.Fatalf("reopened store swept %d: %v", n, err)
	}
}

// countingStorage counts reads, to show that lookups hit the cache.
type countingStorage struct {
	logical.Storage
	mu   sync.Mutex
	gets int
}

func (c *countingStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Storage.Get(ctx, k)
}

func TestLookupCache(t *testing.T) {
	t.Parallel()
	cs := &countingStorage{Storage: logical.NewInmemStorage()}
	c := &clock{t: time.Unix(1e9, 0)}
	s, err := New(t.Context(), Config{Storage: cs, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.Create(t.Context(), nil, CreateRequest{Policies: []string{"a"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	get := func() *Entry {
		e, err := s.Lookup(t.Context(), tok)
		if err != nil || e == nil {
			t.Fatalf("lookup: %v %v", e, err)
		}
		return e
	}
	e := get()
	e.Policies[0] = "mutated"
	before := cs.gets
	for range 10 {
		get()
	}
	if cs.gets != before {
		t.Fatalf("%d storage reads for cached lookups", cs.gets-before)
	}
	if get().Policies[0] != "a" {
		t.Fatal("a caller's change to a returned entry reached the cache")
	}
	if _, _, err := s.Renew(t.Context(), e.Hash, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := get().ExpireTime.Sub(get().CreationTime); got != 2*time.Hour {
		t.Fatalf("lookup after renew sees expiry %v after creation", got)
	}
}

func TestBadSalt(t *testing.T) {
	t.Parallel()
	st := logical.NewInmemStorage()
	_ = st.Put(t.Context(), &logical.StorageEntry{Key: saltKey, Value: []byte("short")})
	if _, err := New(t.Context(), Config{Storage: st}); err == nil {
		t.Fatal("accepted a short salt")
	}
}

// FuzzCustomID checks that any caller-chosen ID is either rejected or
// becomes a working token whose stored entry depends on the ID only through
// its hash: with Hash and Accessor blanked it equals a random root token's.
func FuzzCustomID(f *testing.F) {
	for _, seed := range []string{"root", "dev", "s.x", "", "a b", "héllo", strings.Repeat("x", 200), "hvs.abc"} {
		f.Add(seed)
	}
	h := newHarness(f)
	ref := storedShape(f, h, h.root)
	f.Fuzz(func(t *testing.T, id string) {
		if id == "" {
			return
		}
		ctx := context.Background()
		tok, err := h.s.CreateRoot(ctx, id)
		if err != nil {
			return
		}
		defer h.s.Revoke(ctx, h.s.HashID(tok))
		if tok != id {
			t.Fatalf("got token %q for id %q", tok, id)
		}
		if got := storedShape(t, h, id); got != ref {
			t.Fatalf("stored entry depends on the id:\n%s\n%s", got, ref)
		}
	})
}

// storedShape returns the stored JSON of tok's entry with the fields that
// differ between any two root tokens blanked.
func storedShape(t testing.TB, h *harness, tok string) string {
	t.Helper()
	var e Entry
	ok, err := logical.GetJSON(context.Background(), h.storage, idPrefix+h.s.HashID(tok), &e)
	if err != nil || !ok {
		t.Fatalf("entry of token: %v %v", ok, err)
	}
	e.Hash, e.Accessor = "", ""
	b, _ := json.Marshal(e)
	return string(b)
}

func BenchmarkLookup(b *testing.B) {
	h := newHarness(b)
	a := h.create(b, h.root, map[string]any{"policies": "a"})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if e, err := h.s.Lookup(ctx, a.ClientToken); err != nil || e == nil {
				b.Fatal("lookup failed")
			}
		}
	})
}
