package token

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestAccessorList(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rootEntry, _ := h.s.Lookup(t.Context(), h.root)
	a := h.create(t, h.root, map[string]any{"policies": "a"})
	gone := h.create(t, h.root, map[string]any{"policies": "a"})
	h.create(t, h.root, map[string]any{"policies": "a", "type": "batch"})
	if err := h.s.Revoke(t.Context(), h.s.HashID(gone.ClientToken)); err != nil {
		t.Fatal(err)
	}
	// An index entry leading nowhere is not listed.
	_ = h.storage.Put(t.Context(), &logical.StorageEntry{Key: accessorPrefix + "dangling", Value: []byte("nohash")})
	resp, err := h.call(logical.ListOperation, "accessors/", h.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{rootEntry.Accessor, a.Accessor}
	slices.Sort(want)
	eq(t, resp.Data["keys"].([]string), want)
	if !slices.Contains(h.b.(logical.PathInfo).SpecialPaths().Root, "accessors*") {
		t.Fatal("accessors is not a sudo path")
	}
}

func TestRenewAccessor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1h"})
	h.clock.Advance(30 * time.Minute)
	resp, err := h.call(logical.UpdateOperation, "renew-accessor", h.root, map[string]any{"accessor": a.Accessor, "increment": "2h"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, resp.Auth.ClientToken, "")
	eq(t, resp.Auth.Accessor, a.Accessor)
	eq(t, resp.Auth.LeaseDuration, 2*time.Hour)
	e, _ := h.s.Lookup(t.Context(), a.ClientToken)
	eq(t, e.ExpireTime, h.clock.Now().Add(2*time.Hour))
	for name, tc := range map[string]struct {
		data map[string]any
		want error
	}{
		"missing": {data: nil, want: ErrMissingAccessor},
		"unknown": {data: map[string]any{"accessor": "nope"}, want: ErrInvalidAccessor},
	} {
		if _, err := h.call(logical.UpdateOperation, "renew-accessor", h.root, tc.data); !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
}

// TestTidy damages the indexes the ways an interrupted revocation or a
// storage without transactions can, and checks that Tidy repairs exactly
// those and leaves live tokens alone.
func TestTidy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	keep := h.create(t, h.root, map[string]any{"policies": "a"})
	keepChild := h.create(t, keep.ClientToken, map[string]any{"policies": "a"})
	lostParent := h.create(t, h.root, map[string]any{"policies": "a"})
	survivor := h.create(t, lostParent.ClientToken, map[string]any{"policies": "a"})
	halfRevoked := h.create(t, h.root, map[string]any{"policies": "a"})
	expired := h.create(t, h.root, map[string]any{"policies": "a", "ttl": "1m"})

	// The parent's entry vanished but its child index stayed.
	lp := h.s.HashID(lostParent.ClientToken)
	_ = h.storage.Delete(ctx, idPrefix+lp)
	_ = h.storage.Delete(ctx, accessorPrefix+h.s.mac(lostParent.Accessor))
	// Index entries for a child that does not exist, and a stale one.
	_ = h.storage.Put(ctx, &logical.StorageEntry{Key: parentPrefix + h.s.HashID(keep.ClientToken) + "/ghost", Value: []byte{1}})
	_ = h.storage.Put(ctx, &logical.StorageEntry{Key: parentPrefix + h.s.HashID(h.root) + "/" + h.s.HashID(keepChild.ClientToken), Value: []byte{1}})
	// Accessor entries without a token, and one naming another token.
	_ = h.storage.Put(ctx, &logical.StorageEntry{Key: accessorPrefix + "dangling", Value: []byte("nohash")})
	_ = h.storage.Put(ctx, &logical.StorageEntry{Key: accessorPrefix + h.s.mac("forged"), Value: []byte(h.s.HashID(keep.ClientToken))})
	// A revocation that began and never finished.
	always := func(*Entry) bool { return true }
	if _, err := h.s.markRevoking(ctx, h.s.HashID(halfRevoked.ClientToken), always, false); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Minute)

	res, err := h.s.Tidy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Four parent indexes: the ghost, the stale one, the vanished parent's own
	// (under root) and its child's (under it).
	eq(t, res, TidyResult{ParentIndexes: 4, Orphaned: 1, Accessors: 2, Revoked: 2})
	for name, tok := range map[string]string{"root": h.root, "keep": keep.ClientToken, "keep's child": keepChild.ClientToken, "survivor": survivor.ClientToken} {
		if !h.alive(t, tok) {
			t.Fatalf("tidy killed %s", name)
		}
	}
	if e, _ := h.s.Lookup(ctx, survivor.ClientToken); !e.Orphan || e.ParentHash != "" {
		t.Fatalf("child of a vanished parent not orphaned: %+v", e)
	}
	for _, tok := range []string{halfRevoked.ClientToken, expired.ClientToken} {
		if e, _ := h.s.load(ctx, h.s.HashID(tok)); e != nil {
			t.Fatal("tidy left a dead token stored")
		}
	}
	again, err := h.s.Tidy(ctx)
	if err != nil || again != (TidyResult{}) {
		t.Fatalf("second tidy found more: %+v %v", again, err)
	}
	if err := h.s.Revoke(ctx, h.s.HashID(keep.ClientToken)); err != nil || h.alive(t, keepChild.ClientToken) {
		t.Fatalf("the parent index of a live child was lost: %v", err)
	}
}

func TestTidyRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.s.tidyMu.Lock()
	resp, err := h.call(logical.UpdateOperation, "tidy", h.root, nil)
	if err != nil || resp.Status != 0 || !slices.Equal(resp.Warnings, []string{"Tidy operation already in progress."}) {
		t.Fatalf("while running: %+v %v", resp, err)
	}
	h.s.tidyMu.Unlock()
	_ = h.storage.Put(t.Context(), &logical.StorageEntry{Key: accessorPrefix + "dangling", Value: []byte("nohash")})
	resp, err = h.call(logical.UpdateOperation, "tidy", h.root, nil)
	if err != nil || resp.Status != http.StatusAccepted || len(resp.Warnings) != 1 {
		t.Fatalf("start: %+v %v", resp, err)
	}
	h.s.tidyMu.Lock() // held by the run until it ends
	if e, _ := h.storage.Get(t.Context(), accessorPrefix+"dangling"); e != nil {
		t.Fatal("the background tidy did not run")
	}
	h.s.tidyMu.Unlock()
	h.s.Stop()
	if _, err := h.call(logical.UpdateOperation, "tidy", h.root, nil); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("tidy after Stop: %v", err)
	}
}
