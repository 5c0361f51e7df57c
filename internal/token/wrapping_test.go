package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestCreateWrapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	id, e, err := h.s.CreateWrapping(ctx, 90*time.Second, "secret/data/x")
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsWrapping() || e.NumUses != 1 || e.TTL != 90*time.Second || e.ExplicitMaxTTL != 90*time.Second ||
		e.Renewable || !e.Orphan || e.Path != "secret/data/x" || e.Type != TypeService {
		t.Fatalf("wrapping entry: %+v", e)
	}
	if live, _ := h.s.Lookup(ctx, id); !live.IsWrapping() {
		t.Fatal("wrapping token not stored")
	}
	if (&Entry{Policies: []string{"default", "response-wrapping"}}).IsWrapping() || (*Entry)(nil).IsWrapping() {
		t.Fatal("IsWrapping is too generous")
	}
}

// TestWrappingPolicyReserved: no way but CreateWrapping leads to a token
// with the response-wrapping policy, which would pass for a wrapping token.
func TestWrappingPolicyReserved(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.call(logical.UpdateOperation, "create", h.root, map[string]any{"policies": "response-wrapping"}); !errors.Is(err, ErrWrappingPolicy) {
		t.Fatalf("token create: %v", err)
	}
	if _, err := h.s.CreateFromAuth(context.Background(), &logical.Auth{Policies: []string{"Response-Wrapping"}}, "auth/userpass/login/x"); !errors.Is(err, ErrWrappingPolicy) {
		t.Fatalf("login: %v", err)
	}
	if _, _, err := h.s.Create(context.Background(), nil, CreateRequest{Policies: []string{"response-wrapping"}}); !errors.Is(err, ErrWrappingPolicy) {
		t.Fatalf("core create: %v", err)
	}
}
