package token

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUseSharesUnlimitedEntries: a token of unlimited uses found in the
// cache is handed out as the cache's own entry (no copy per request),
// while a limited-use token still gets a private copy each time, showing
// the uses left before that use.
func TestUseSharesUnlimitedEntries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	a := h.create(t, h.root, map[string]any{"policies": "a", "meta": map[string]any{"team": "x"}})
	first, err := h.s.Use(ctx, a.ClientToken) // may load it from storage
	if err != nil || first == nil {
		t.Fatalf("use: %v %v", first, err)
	}
	shared, _ := h.s.Use(ctx, a.ClientToken)
	again, _ := h.s.Use(ctx, a.ClientToken)
	if shared == nil || shared != again {
		t.Fatalf("a cached unlimited entry was not shared: %p %p", shared, again)
	}
	if looked, _ := h.s.Lookup(ctx, a.ClientToken); looked == shared || !reflect.DeepEqual(looked, shared) {
		t.Fatalf("Lookup must return an equal private copy: same=%v", looked == shared)
	}
	limited := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 3})
	e1, _ := h.s.Use(ctx, limited.ClientToken)
	e2, _ := h.s.Use(ctx, limited.ClientToken)
	if e1 == nil || e2 == nil || e1 == e2 || e1.NumUses != 3 || e2.NumUses != 2 {
		t.Fatalf("limited uses: %+v %+v", e1, e2)
	}
}

// TestSharedEntryRevokedAtOnce: once Revoke returns, Use refuses the token
// although it handed out the shared entry just before, and the entry that
// earlier requests hold was never changed in place.
func TestSharedEntryRevokedAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	a := h.create(t, h.root, map[string]any{"policies": "a"})
	for range 2 { // the second is served from the cache
		if e, err := h.s.Use(ctx, a.ClientToken); err != nil || e == nil {
			t.Fatalf("use: %v %v", e, err)
		}
	}
	held, _ := h.s.Use(ctx, a.ClientToken)
	before := *held.Clone()
	if err := h.s.Revoke(ctx, held.Hash); err != nil {
		t.Fatal(err)
	}
	if e, err := h.s.Use(ctx, a.ClientToken); e != nil || err != nil {
		t.Fatalf("use after revoke: %v %v", e, err)
	}
	if !reflect.DeepEqual(*held, before) {
		t.Fatalf("the shared entry was changed in place by the revocation")
	}
}

// TestSharedEntryExpiresAtOnce: a cached entry past its expiry is refused
// by the shared path too, without waiting for the sweeper.
func TestSharedEntryExpiresAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	for range 2 {
		if e, _ := h.s.Use(ctx, a.ClientToken); e == nil {
			t.Fatal("refused before expiry")
		}
	}
	h.clock.Advance(time.Hour)
	if e, err := h.s.Use(ctx, a.ClientToken); e != nil || err != nil {
		t.Fatalf("use after expiry: %v %v", e, err)
	}
}

// TestSharedEntryConcurrentRevoke: uses of one token race a revocation;
// every Use that starts after Revoke returned is refused, and the
// limited-use token used alongside grants exactly its uses.
func TestSharedEntryConcurrentRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	a := h.create(t, h.root, map[string]any{"policies": "a"})
	limited := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 7})
	hash := h.s.mac(a.ClientToken)
	var revoked atomic.Bool
	var granted atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				after := revoked.Load()
				e, err := h.s.Use(ctx, a.ClientToken)
				if err != nil {
					t.Error(err)
					return
				}
				if after && e != nil {
					t.Error("a token was accepted after its revocation returned")
					return
				}
				if e, _ := h.s.Use(ctx, limited.ClientToken); e != nil {
					granted.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := h.s.Revoke(ctx, hash); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	wg.Wait()
	if granted.Load() != 7 {
		t.Fatalf("%d uses of a num_uses=7 token granted", granted.Load())
	}
}

// TestUsedEntryContext: the context WithUsedEntryIn builds carries the
// entry and passes every other value and the cancellation through.
func TestUsedEntryContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	e := &Entry{Hash: "h"}
	var c UsedEntryContext
	ctx := WithUsedEntryIn(&c, parent, e)
	if UsedEntry(ctx) != e || ctx.Value(key{}) != "v" || UsedEntry(parent) != nil {
		t.Fatal("values not carried")
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancellation did not reach the child")
	}
	if UsedEntry(WithUsedEntry(context.Background(), nil)) != nil {
		t.Fatal("nil entry")
	}
}
