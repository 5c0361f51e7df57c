package token

import (
	"context"
	"slices"
	"time"
)

// wrappingPolicy is the only policy of a response-wrapping token
// (policy.ResponseWrappingName; the token store does not import policy).
const wrappingPolicy = "response-wrapping"

// CreateWrapping issues a response-wrapping token as Vault does: a service
// token with the response-wrapping policy alone, one use, living ttl
// (capped by the store's maximum TTL) and no longer, not renewable, an
// orphan, with path recorded as the route whose response it wraps. It
// returns the token ID, once, and its entry.
func (s *Store) CreateWrapping(ctx context.Context, ttl time.Duration, path string) (string, *Entry, error) {
	no := false
	return s.Create(ctx, nil, CreateRequest{
		Policies: []string{wrappingPolicy}, NoDefaultPolicy: true, NumUses: 1,
		TTL: ttl, ExplicitMaxTTL: ttl, Renewable: &no, NoParent: true,
		Path: path, DisplayName: "response-wrapping", wrapping: true,
	})
}

// IsWrapping reports whether e is a response-wrapping token: its only
// policy is response-wrapping, which only CreateWrapping grants.
func (e *Entry) IsWrapping() bool {
	return e != nil && slices.Equal(e.Policies, []string{wrappingPolicy})
}
