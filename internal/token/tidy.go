package token

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// TidyResult counts what one Tidy run repaired.
type TidyResult struct {
	// ParentIndexes is how many parent-index entries were deleted because
	// the child is gone or names another parent, or the parent is gone.
	ParentIndexes int
	// Orphaned is how many live children of a vanished parent were made
	// orphans.
	Orphaned int
	// Accessors is how many accessor-index entries leading nowhere were
	// deleted.
	Accessors int
	// Revoked is how many expired tokens, or tokens whose revocation was
	// interrupted, were revoked (with their children).
	Revoked int
}

// Tidy walks the whole store and repairs what an interrupted revocation or
// a storage without transactions can leave behind: parent-index entries of
// tokens that are gone (a surviving child of a vanished parent becomes an
// orphan), accessor-index entries without a token, and tokens that are
// expired or half revoked. It reads every token, so it is an operator's
// tool, not something for request paths. A failure on one entry does not
// stop the rest; the first error is returned.
func (s *Store) Tidy(ctx context.Context) (TidyResult, error) {
	var res TidyResult
	errParents := s.tidyParents(ctx, &res)
	errAccessors := s.tidyAccessors(ctx, &res)
	errRevoked := s.tidyRevocations(ctx, &res)
	return res, errors.Join(errParents, errAccessors, errRevoked)
}

func (s *Store) tidyParents(ctx context.Context, res *TidyResult) error {
	parents, err := s.storage.List(ctx, parentPrefix)
	if err != nil {
		return fmt.Errorf("list parent index: %w", err)
	}
	var first error
	for _, p := range parents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !strings.HasSuffix(p, "/") {
			continue
		}
		if err := s.tidyChildren(ctx, strings.TrimSuffix(p, "/"), res); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// tidyChildren repairs the parent index of one parent hash.
func (s *Store) tidyChildren(ctx context.Context, parent string, res *TidyResult) error {
	pe, err := s.load(ctx, parent)
	if err != nil {
		return err
	}
	children, err := s.storage.List(ctx, parentPrefix+parent+"/")
	if err != nil {
		return fmt.Errorf("list child index: %w", err)
	}
	for _, child := range children {
		if strings.HasSuffix(child, "/") {
			continue
		}
		ce, err := s.load(ctx, child)
		if err != nil {
			return err
		}
		switch {
		case ce == nil || ce.ParentHash != parent:
		case pe == nil:
			orphaned, err := s.orphanOf(ctx, child, parent)
			if err != nil {
				return err
			}
			if orphaned {
				res.Orphaned++
			}
		default:
			continue
		}
		if err := s.storage.Delete(ctx, parentPrefix+parent+"/"+child); err != nil {
			return fmt.Errorf("delete child index: %w", err)
		}
		res.ParentIndexes++
	}
	return nil
}

// orphanOf makes the token hash an orphan if its parent is still parent,
// reporting whether it did.
func (s *Store) orphanOf(ctx context.Context, hash, parent string) (bool, error) {
	mu := s.lockFor(hash)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil || e == nil || e.ParentHash != parent {
		return false, err
	}
	e.ParentHash, e.Orphan = "", true
	return true, s.save(ctx, e)
}

func (s *Store) tidyAccessors(ctx context.Context, res *TidyResult) error {
	keys, err := s.storage.List(ctx, accessorPrefix)
	if err != nil {
		return fmt.Errorf("list token accessors: %w", err)
	}
	var first error
	for _, k := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := s.accessorTarget(ctx, k)
		if err == nil && e == nil {
			if err = s.storage.Delete(ctx, accessorPrefix+k); err == nil {
				res.Accessors++
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Store) tidyRevocations(ctx context.Context, res *TidyResult) error {
	hashes, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	now := s.now()
	due := func(e *Entry) bool { return e.Revoking || e.expired(now) }
	var first error
	for _, h := range hashes {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e, err := s.load(ctx, h)
		if err == nil && e != nil && due(e) {
			if err = s.revoke(ctx, h, due, true); err == nil {
				res.Revoked++
			}
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
