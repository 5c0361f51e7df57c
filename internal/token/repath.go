package token

import (
	"context"
	"fmt"
	"strings"
)

// MovePath rewrites the issuing path of every service token issued under
// from (a mount's route path, such as "auth/userpass/") to the same path
// under to, as when that auth method is moved (sys/remount). The path
// decides which mount is asked before a renewal and which tokens a disable
// revokes, so it must follow the mount. Tokens being revoked are rewritten
// too. Batch tokens carry their path sealed inside and cannot be rewritten:
// those issued under from end here, as every token of a moved auth method
// does in Vault, rather than outlive a later disable of the new path.
//
// It is idempotent, walks every stored token (a rare administrative event,
// not a request path) and returns how many service tokens it rewrote.
func (s *Store) MovePath(ctx context.Context, from, to string) (int, error) {
	if from == "" || to == "" || from == to {
		return 0, nil
	}
	if err := s.addCutoff(ctx, from); err != nil {
		return 0, err
	}
	hashes, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return 0, fmt.Errorf("list tokens: %w", err)
	}
	n := 0
	for _, h := range hashes {
		moved, err := s.movePath(ctx, h, from, to)
		if err != nil {
			return n, err
		}
		if moved {
			n++
		}
	}
	return n, nil
}

func (s *Store) movePath(ctx context.Context, hash, from, to string) (bool, error) {
	mu := s.lockFor(hash)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil || e == nil || !strings.HasPrefix(e.Path, from) {
		return false, err
	}
	e.Path = to + strings.TrimPrefix(e.Path, from)
	return true, s.save(ctx, e)
}
