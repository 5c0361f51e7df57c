package core

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestAdmitAppliesQuotasOnce: the admission check before a body is read
// applies the rate-limit quotas as HandleRequest does (a flood of made-up
// tokens gets 429 before any token lookup), and a request admitted and then
// handled is counted once, not twice.
func TestAdmitAppliesQuotasOnce(t *testing.T) {
	t.Parallel()
	c, root := devCore(t)
	// A bucket of 2 requests that refills far too slowly to matter here.
	if _, err := do(c, root, logical.UpdateOperation, "sys/quotas/rate-limit/kv", map[string]any{
		"path": "secret/", "rate": 2, "interval": "24h",
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	newReq := func(tok string) *logical.Request {
		return &logical.Request{ID: "q", Operation: logical.UpdateOperation, Path: "secret/data/x", ClientToken: tok,
			RemoteAddr: "192.0.2.7:1234", Data: map[string]any{"data": map[string]any{"k": "v"}}}
	}
	// First request: admitted, then handled; one unit of the bucket.
	req := newReq(root)
	if _, err := c.Admit(ctx, req); err != nil {
		t.Fatalf("admit: %v", err)
	}
	if _, err := c.HandleRequest(ctx, req); err != nil {
		t.Fatalf("handle after admit: %v", err)
	}
	// Second: still room, so the bucket was not charged twice for the first.
	req = newReq(root)
	if _, err := c.Admit(ctx, req); err != nil {
		t.Fatalf("second admit (the first request was counted twice?): %v", err)
	}
	if _, err := c.HandleRequest(ctx, req); err != nil {
		t.Fatalf("second handle: %v", err)
	}
	// Third, with a token nobody issued: the quota refuses it before the
	// token is looked up, so the answer is 429, not 403.
	_, err := c.Admit(ctx, newReq("s.madeup"))
	var rl *logical.RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, logical.ErrRateLimited) {
		t.Fatalf("over-quota admit with a made-up token: got %v, want a rate-limit error", err)
	}
	// And an over-quota valid token is refused at admission too.
	if _, err := c.Admit(ctx, newReq(root)); !errors.Is(err, logical.ErrRateLimited) {
		t.Fatalf("over-quota admit with root: got %v", err)
	}
}
