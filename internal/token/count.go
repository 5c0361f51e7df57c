package token

import (
	"context"
	"fmt"
)

// Count returns how many service tokens are stored (batch tokens are never
// stored). It lists the store's index, so callers should call it seldom:
// the core refreshes the token gauge every usage_gauge_period.
func (s *Store) Count(ctx context.Context) (int, error) {
	hashes, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return 0, fmt.Errorf("list tokens: %w", err)
	}
	return len(hashes), nil
}
