package token

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// hookStorage counts reads of token entries and runs a hook once, after
// the read of one key has returned from storage.
type hookStorage struct {
	logical.Storage
	mu       sync.Mutex
	idReads  int
	hookKey  string
	hook     func()
	listings int
}

func (h *hookStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := h.Storage.Get(ctx, key)
	h.mu.Lock()
	if strings.HasPrefix(key, idPrefix) {
		h.idReads++
	}
	var hook func()
	if key == h.hookKey && h.hook != nil {
		hook, h.hook = h.hook, nil
	}
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return e, err
}

func (h *hookStorage) List(ctx context.Context, prefix string) ([]string, error) {
	h.mu.Lock()
	if prefix == idPrefix {
		h.listings++
	}
	h.mu.Unlock()
	return h.Storage.List(ctx, prefix)
}

// TestNewReadsNoTokenAndFirstSweepRestores: opening a store (at unseal)
// reads no token, so unseal does not grow with the tokens stored; the
// first sweep queues them and revokes those that expired meanwhile.
func TestNewReadsNoTokenAndFirstSweepRestores(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	long := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "5h"})
	hs := &hookStorage{Storage: h.storage}
	b, err := New(t.Context(), Config{Storage: hs, System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 768 * time.Hour}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if hs.idReads != 0 || hs.listings != 0 {
		t.Fatalf("New read %d tokens and listed them %d times", hs.idReads, hs.listings)
	}
	h.clock.Advance(2 * time.Hour)
	if n, err := b.SweepExpired(t.Context()); err != nil || n != 1 {
		t.Fatalf("first sweep revoked %d: %v", n, err)
	}
	if e, _ := h.storage.Get(t.Context(), idPrefix+b.HashID(a.ClientToken)); e != nil {
		t.Fatal("the expired token is still stored")
	}
	if e, _ := h.storage.Get(t.Context(), idPrefix+b.HashID(long.ClientToken)); e == nil {
		t.Fatal("the unexpired token was revoked")
	}
}

// TestRestoreKeepsNewerExpiry: a renewal that lands while the first sweep
// is queueing the stored tokens is not undone by the older expiry the
// sweep had read: the token is revoked at its new expiry, not lost from
// the queue.
func TestRestoreKeepsNewerExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	hs := &hookStorage{Storage: h.storage}
	b, err := New(t.Context(), Config{Storage: hs, System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 768 * time.Hour}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Minute)
	hash := b.HashID(a.ClientToken)
	hs.mu.Lock()
	hs.hookKey, hs.hook = idPrefix+hash, func() {
		// The sweep has just read the entry expiring at +1h.
		_, err := b.Backend().HandleRequest(context.Background(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "renew-self", ClientToken: a.ClientToken,
			Data: map[string]any{"increment": "3h"}, MountPoint: "auth/token/",
		})
		if err != nil {
			t.Errorf("renew during the restore: %v", err)
		}
	}
	hs.mu.Unlock()
	if n, err := b.SweepExpired(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep at +10m revoked %d: %v", n, err)
	}
	h.clock.Advance(time.Hour) // +1h10m: past the old expiry, before the new
	if n, err := b.SweepExpired(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep after the old expiry revoked %d: %v", n, err)
	}
	h.clock.Advance(3 * time.Hour) // past the new expiry
	if _, err := b.SweepExpired(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e, _ := h.storage.Get(t.Context(), idPrefix+hash); e != nil {
		t.Fatal("the renewed token was never revoked: the restore replaced its expiry")
	}
}
