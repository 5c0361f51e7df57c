package token

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestMovePath: a moved auth method's service tokens follow it (a later
// disable of the new path revokes them), other tokens stay put, and its
// batch tokens, which cannot be rewritten, end with the move.
func TestMovePath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	login := func(path, typ string) string {
		auth := &logical.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour, TokenType: typ}
		if _, err := h.s.CreateFromAuth(ctx, auth, path); err != nil {
			t.Fatal(err)
		}
		return auth.ClientToken
	}
	moved, other := login("auth/people/login/alice", "service"), login("auth/people2/login/bob", "service")
	batch := login("auth/people/login/carol", "batch")
	n, err := h.s.MovePath(ctx, "auth/people/", "auth/staff/")
	if err != nil || n != 1 {
		t.Fatalf("moved %d, %v", n, err)
	}
	if n, err := h.s.MovePath(ctx, "auth/people/", "auth/staff/"); err != nil || n != 0 {
		t.Fatalf("second run moved %d, %v", n, err)
	}
	for tok, want := range map[string]string{moved: "auth/staff/login/alice", other: "auth/people2/login/bob"} {
		e, err := h.s.Lookup(ctx, tok)
		if err != nil || e == nil || e.Path != want {
			t.Fatalf("path %+v %v, want %s", e, err, want)
		}
	}
	if h.alive(t, batch) {
		t.Fatal("a batch token of the moved method outlived the move")
	}
	if _, err := h.s.RevokeByPath(ctx, "auth/staff/"); err != nil {
		t.Fatal(err)
	}
	if h.alive(t, moved) || !h.alive(t, other) {
		t.Fatal("disabling the new path did not revoke exactly the moved method's tokens")
	}
}
