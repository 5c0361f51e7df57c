package token

import (
	"context"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/internal/logical"
)

// Revoke revokes the token named by hash and, depth first, every token it
// created. Revoking an unknown token is not an error. Each revoked token's
// entry and indexes are deleted and Config.OnRevoke is called for it. A
// revocation interrupted by an error is finished later by the sweeper.
func (s *Store) Revoke(ctx context.Context, hash string) error {
	return s.revoke(ctx, hash, func(*Entry) bool { return true }, true)
}

// RevokeOrphan revokes the token named by hash alone; its children become
// orphans and live on.
func (s *Store) RevokeOrphan(ctx context.Context, hash string) error {
	return s.revoke(ctx, hash, func(*Entry) bool { return true }, false)
}

// revoke is the shared walk. should decides, under the token's lock,
// whether the token is to be revoked at all (the sweeper uses it to skip a
// token renewed since it was queued); tree says whether children go too.
func (s *Store) revoke(ctx context.Context, hash string, should func(*Entry) bool, tree bool) error {
	e, err := s.markRevoking(ctx, hash, should, !tree)
	if err != nil || e == nil {
		return err
	}
	// A revocation resumed by the sweeper keeps the mode it began with.
	tree = tree && !e.SpareChildren
	children, err := s.storage.List(ctx, parentPrefix+hash+"/")
	if err != nil {
		return fmt.Errorf("list child tokens: %w", err)
	}
	for _, child := range children {
		if strings.HasSuffix(child, "/") {
			continue
		}
		if tree {
			err = s.revoke(ctx, child, func(*Entry) bool { return true }, true)
		} else {
			err = s.orphan(ctx, child)
		}
		if err != nil {
			return err
		}
		// A child whose entry was already gone leaves its index key.
		if err := s.storage.Delete(ctx, parentPrefix+hash+"/"+child); err != nil {
			return fmt.Errorf("delete child index: %w", err)
		}
	}
	return s.destroy(ctx, hash)
}

// markRevoking flags the entry as being revoked, so that it stops
// authenticating and cannot gain children while its subtree is walked. It
// returns nil when there is nothing to revoke.
func (s *Store) markRevoking(ctx context.Context, hash string, should func(*Entry) bool, spare bool) (*Entry, error) {
	mu := s.lockFor(hash)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil || e == nil {
		return nil, err
	}
	if !should(e) {
		return nil, nil
	}
	if !e.Revoking {
		e.Revoking, e.SpareChildren = true, spare
		if err := s.save(ctx, e); err != nil {
			return nil, err
		}
	}
	s.exp.track(hash, zeroTime)
	return e, nil
}

// orphan detaches a child from its parent being revoked.
func (s *Store) orphan(ctx context.Context, hash string) error {
	mu := s.lockFor(hash)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil || e == nil {
		return err
	}
	e.ParentHash, e.Orphan = "", true
	return s.save(ctx, e)
}

// destroy deletes the entry and its indexes in one transaction and reports
// the revocation. Only the caller that actually deletes the entry calls
// OnRevoke, so concurrent revocations of one tree report each token once.
func (s *Store) destroy(ctx context.Context, hash string) error {
	mu := s.lockFor(hash)
	mu.Lock()
	e, err := s.load(ctx, hash)
	if err != nil || e == nil {
		mu.Unlock()
		s.exp.untrack(hash)
		return err
	}
	ops := []logical.TxnOp{
		{Delete: true, Entry: &logical.StorageEntry{Key: idPrefix + hash}},
		{Delete: true, Entry: &logical.StorageEntry{Key: accessorPrefix + s.mac(e.Accessor)}},
	}
	if e.ParentHash != "" {
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: parentPrefix + e.ParentHash + "/" + hash}})
	}
	err = logical.ApplyTxn(ctx, s.storage, ops)
	s.cache.invalidate(hash)
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete token entry: %w", err)
	}
	s.exp.untrack(hash)
	if s.onRevoke != nil {
		s.onRevoke(ctx, e)
	}
	return nil
}

// RevokeByPath revokes, with their children, every token issued through a
// path under prefix, such as "auth/userpass/" when that auth method is
// disabled. It walks every stored token, so it is meant for rare
// administrative events, not request paths. It returns how many tokens
// matched. Batch tokens issued under prefix until now stop working too;
// they are not counted.
func (s *Store) RevokeByPath(ctx context.Context, prefix string) (int, error) {
	if err := s.addCutoff(ctx, prefix); err != nil {
		return 0, err
	}
	hashes, err := s.storage.List(ctx, idPrefix)
	if err != nil {
		return 0, fmt.Errorf("list tokens: %w", err)
	}
	n := 0
	for _, h := range hashes {
		e, err := s.get(ctx, h)
		if err != nil {
			return n, err
		}
		if e == nil || !strings.HasPrefix(e.Path, prefix) {
			continue
		}
		if err := s.Revoke(ctx, h); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
