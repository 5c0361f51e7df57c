package token

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// tree builds root → parent → child → grandchild, plus an orphan made by
// parent via create-orphan.
type tree struct{ parent, child, grandchild, orphan string }

func buildTree(t *testing.T, h *harness) tree {
	t.Helper()
	var tr tree
	tr.parent = h.create(t, h.root, map[string]any{"policies": "a"}).ClientToken
	tr.child = h.create(t, tr.parent, nil).ClientToken
	tr.grandchild = h.create(t, tr.child, nil).ClientToken
	resp, err := h.call(logical.UpdateOperation, "create-orphan", tr.parent, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.orphan = resp.Auth.ClientToken
	return tr
}

func TestRevokeRoutes(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		revoke    func(h *harness, tr tree) (*logical.Response, error)
		wantAlive map[string]bool // keyed by "parent", "child", "grandchild", "orphan"
	}{
		"revoke takes children": {
			revoke: func(h *harness, tr tree) (*logical.Response, error) {
				return h.call(logical.UpdateOperation, "revoke", h.root, map[string]any{"token": tr.parent})
			},
			wantAlive: map[string]bool{"orphan": true},
		},
		"revoke-self takes children": {
			revoke: func(h *harness, tr tree) (*logical.Response, error) {
				return h.call(logical.UpdateOperation, "revoke-self", tr.child, nil)
			},
			wantAlive: map[string]bool{"parent": true, "orphan": true},
		},
		"revoke-accessor": {
			revoke: func(h *harness, tr tree) (*logical.Response, error) {
				e, _ := h.s.Lookup(context.Background(), tr.parent)
				return h.call(logical.UpdateOperation, "revoke-accessor", h.root, map[string]any{"accessor": e.Accessor})
			},
			wantAlive: map[string]bool{"orphan": true},
		},
		"revoke-orphan keeps children": {
			revoke: func(h *harness, tr tree) (*logical.Response, error) {
				return h.call(logical.UpdateOperation, "revoke-orphan", h.root, map[string]any{"token": tr.parent})
			},
			wantAlive: map[string]bool{"child": true, "grandchild": true, "orphan": true},
		},
		"revoke unknown is a no-op": {
			revoke: func(h *harness, _ tree) (*logical.Response, error) {
				return h.call(logical.UpdateOperation, "revoke", h.root, map[string]any{"token": "s.unknown"})
			},
			wantAlive: map[string]bool{"parent": true, "child": true, "grandchild": true, "orphan": true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tr := buildTree(t, h)
			resp, err := tc.revoke(h, tr)
			if err != nil || resp != nil {
				t.Fatalf("revoke: %v, %v", resp, err)
			}
			toks := map[string]string{"parent": tr.parent, "child": tr.child, "grandchild": tr.grandchild, "orphan": tr.orphan}
			dead := 0
			for role, tok := range toks {
				if got := h.alive(t, tok); got != tc.wantAlive[role] {
					t.Errorf("%s alive = %v, want %v", role, got, tc.wantAlive[role])
				}
				if !tc.wantAlive[role] {
					dead++
				}
			}
			if len(h.revoked) != dead {
				t.Errorf("OnRevoke called %d times, want %d", len(h.revoked), dead)
			}
			if !h.alive(t, h.root) {
				t.Error("root revoked")
			}
		})
	}
}

func TestRevokeOrphanDetachesChildren(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tr := buildTree(t, h)
	if _, err := h.call(logical.UpdateOperation, "revoke-orphan", h.root, map[string]any{"token": tr.parent}); err != nil {
		t.Fatal(err)
	}
	e, _ := h.s.Lookup(t.Context(), tr.child)
	if !e.Orphan || e.ParentHash != "" {
		t.Fatalf("child %+v", e)
	}
	// The grandchild still belongs to the child.
	if _, err := h.call(logical.UpdateOperation, "revoke", h.root, map[string]any{"token": tr.child}); err != nil {
		t.Fatal(err)
	}
	if h.alive(t, tr.grandchild) {
		t.Fatal("grandchild survived its parent")
	}
	keys, _ := logical.CollectKeys(t.Context(), h.storage, parentPrefix)
	if len(keys) != 0 {
		t.Fatalf("dangling parent index: %v", keys)
	}
}

func TestRevokeAccessorErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := map[string]struct {
		data    map[string]any
		wantErr error
	}{
		"unknown": {data: map[string]any{"accessor": "nope"}, wantErr: ErrInvalidAccessor},
		"missing": {data: nil, wantErr: ErrMissingAccessor},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := h.call(logical.UpdateOperation, "revoke-accessor", h.root, tc.data)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestRevokedParentCannotCreate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.create(t, h.root, map[string]any{"policies": "a"})
	pe, _ := h.s.Lookup(t.Context(), p.ClientToken)
	if err := h.s.Revoke(t.Context(), pe.Hash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.Create(t.Context(), pe, CreateRequest{}); !errors.Is(err, ErrParentRevoked) {
		t.Fatalf("err = %v", err)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	short := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	kid := h.create(t, short.ClientToken, map[string]any{"ttl": "10h"})
	long := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "3h"})

	h.clock.Advance(59 * time.Minute)
	if n, err := h.s.SweepExpired(t.Context()); err != nil || n != 0 {
		t.Fatalf("early sweep revoked %d: %v", n, err)
	}
	h.clock.Advance(time.Minute)
	if h.alive(t, short.ClientToken) {
		t.Fatal("expired token still looks alive")
	}
	if !h.alive(t, kid.ClientToken) {
		t.Fatal("child outliving its parent's TTL is allowed until the parent is revoked")
	}
	n, err := h.s.SweepExpired(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep revoked %d: %v", n, err)
	}
	if h.alive(t, kid.ClientToken) {
		t.Fatal("child of an expired token survived the sweep")
	}
	if !h.alive(t, long.ClientToken) {
		t.Fatal("unexpired token revoked")
	}
	if len(h.revoked) != 2 {
		t.Fatalf("OnRevoke %d times", len(h.revoked))
	}
}

func TestExpiryAfterRenewIsPostponed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	h.clock.Advance(50 * time.Minute)
	if _, err := h.call(logical.UpdateOperation, "renew-self", a.ClientToken, map[string]any{"increment": "1h"}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(20 * time.Minute)
	if n, _ := h.s.SweepExpired(t.Context()); n != 0 || !h.alive(t, a.ClientToken) {
		t.Fatalf("renewed token swept (n=%d)", n)
	}
}

func TestRunStops(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.s.Run(ctx); close(done) }()
	h.clock.Advance(2 * time.Hour)
	h.s.poke()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if e, _ := h.storage.Get(t.Context(), idPrefix+h.s.HashID(a.ClientToken)); e == nil && len(h.revokedCopy()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not revoke the expired token")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	h.s.Stop()
}

func (h *harness) revokedCopy() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.revoked)
}

func TestNumUses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 2})
	for i, wantLeft := range []int{2, 1} {
		e, err := h.s.Use(t.Context(), a.ClientToken)
		if err != nil || e == nil {
			t.Fatalf("use %d: %v %v", i, e, err)
		}
		eq(t, e.NumUses, wantLeft)
	}
	if e, err := h.s.Use(t.Context(), a.ClientToken); e != nil || err != nil {
		t.Fatalf("third use: %v %v", e, err)
	}
	// The core revokes after serving the last use; the sweeper does too,
	// but leaves the caller time to serve the request first.
	if n, err := h.s.SweepExpired(t.Context()); err != nil || n != 0 {
		t.Fatalf("swept a used-up token while its last request may be served: %d %v", n, err)
	}
	h.clock.Advance(usedUpGrace)
	if n, err := h.s.SweepExpired(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep after the grace: %d %v", n, err)
	}
	if _, err := h.call(logical.ReadOperation, "lookup-self", a.ClientToken, nil); !errors.Is(err, ErrBadToken) {
		t.Fatalf("lookup after use-up: %v", err)
	}
	// Only the root token's entry and accessor remain.
	for _, prefix := range []string{idPrefix, accessorPrefix} {
		if keys, _ := logical.CollectKeys(t.Context(), h.storage, prefix); len(keys) != 1 {
			t.Fatalf("used-up token left keys under %s: %v", prefix, keys)
		}
	}
}

func TestLimitedParentCannotMintUnlimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 3})
	if _, err := h.call(logical.UpdateOperation, "create", p.ClientToken, nil); !errors.Is(err, ErrUsesExceedParent) {
		t.Fatalf("err = %v", err)
	}
	h.create(t, p.ClientToken, map[string]any{"num_uses": 2})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 5})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := h.s.Use(context.Background(), a.ClientToken)
			if err != nil {
				t.Error(err)
			}
			if e != nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Fatalf("%d uses granted, want 5", ok.Load())
	}
	h.clock.Advance(usedUpGrace)
	if _, err := h.s.SweepExpired(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(h.revokedCopy()) != 1 {
		t.Fatalf("revoked %d times", len(h.revokedCopy()))
	}
}

// TestInterruptedRevokeOrphanSparesChildren: a revoke-orphan cut short (by a
// crash, say) and finished by the sweeper after a restart must still spare
// the children.
func TestInterruptedRevokeOrphanSparesChildren(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	parent := h.create(t, h.root, map[string]any{"policies": "a"})
	child := h.create(t, parent.ClientToken, map[string]any{"policies": "a"})
	always := func(*Entry) bool { return true }
	if _, err := h.s.markRevoking(t.Context(), h.s.HashID(parent.ClientToken), always, true); err != nil {
		t.Fatal(err)
	}
	restarted, err := New(t.Context(), Config{Storage: h.storage, System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: time.Hour}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.SweepExpired(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e, _ := restarted.Lookup(t.Context(), parent.ClientToken); e != nil {
		t.Fatal("the parent survived its revocation")
	}
	e, err := restarted.Lookup(t.Context(), child.ClientToken)
	if err != nil || e == nil || !e.Orphan {
		t.Fatalf("the child must live on as an orphan: %+v %v", e, err)
	}
}

// TestPeekConsumesNothing: Peek (the check before a request's body is
// read) spends no use, shares the cached entry rather than copying it, and
// answers nil for a used-up or revoked token at once.
func TestPeekConsumesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "num_uses": 1})
	for range 3 {
		if e, err := h.s.Peek(t.Context(), a.ClientToken); err != nil || e == nil || e.NumUses != 1 {
			t.Fatalf("peek: %+v %v", e, err)
		}
	}
	_, _ = h.s.Peek(t.Context(), h.root) // cached from here on
	first, _ := h.s.Peek(t.Context(), h.root)
	if again, _ := h.s.Peek(t.Context(), h.root); first == nil || first != again {
		t.Fatal("peek of a cached token copied its entry")
	}
	if e, err := h.s.Use(t.Context(), a.ClientToken); err != nil || e == nil {
		t.Fatalf("use after peeks: %v %v", e, err)
	}
	if e, err := h.s.Peek(t.Context(), a.ClientToken); e != nil || err != nil {
		t.Fatalf("peek of a used-up token: %+v %v", e, err)
	}
	b := h.create(t, h.root, map[string]any{"policies": "a"})
	if e, _ := h.s.Peek(t.Context(), b.ClientToken); e == nil {
		t.Fatal("peek of a live token: nil")
	}
	if _, err := h.call(logical.UpdateOperation, "revoke-self", b.ClientToken, nil); err != nil {
		t.Fatal(err)
	}
	if e, err := h.s.Peek(t.Context(), b.ClientToken); e != nil || err != nil {
		t.Fatalf("peek of a revoked token: %+v %v", e, err)
	}
}
