package token

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// get returns a private copy of the entry for hash, from the cache when it
// can, or nil, nil when there is none. Dead entries are returned too;
// callers decide with live.
func (s *Store) get(ctx context.Context, hash string) (*Entry, error) {
	e, gen := s.cache.get(hash)
	if e != nil {
		return e, nil
	}
	e, err := s.load(ctx, hash)
	if err != nil || e == nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(e.Hash), []byte(hash)) != 1 {
		return nil, fmt.Errorf("%w: entry stored under another key", ErrCorrupt)
	}
	s.cache.put(hash, e, gen)
	return e, nil
}

// live reports whether e may authenticate a request now. Expired entries
// found here are handed to the sweeper, so that expiry does not depend on
// the sweeper's timer alone.
func (s *Store) live(e *Entry) bool {
	if e == nil || e.Revoking {
		return false
	}
	if e.expired(s.now()) {
		s.poke()
		return false
	}
	return true
}

// Lookup returns the entry of token id without consuming a use. It returns
// nil, nil when the token is unknown, expired, used up or being revoked,
// and for a batch token that is malformed, tampered with, expired or whose
// parent is gone. The returned entry is the caller's copy.
func (s *Store) Lookup(ctx context.Context, id string) (*Entry, error) {
	if id == "" {
		return nil, nil
	}
	if IsBatch(id) {
		return s.lookupBatch(ctx, id)
	}
	return s.lookupHash(ctx, s.mac(id))
}

// Peek is Lookup for a caller that only looks: the entry it returns is
// READ-ONLY, the cache's own when the token is cached (as Use's), so that
// checking a token before a request's body is read copies nothing.
func (s *Store) Peek(ctx context.Context, id string) (*Entry, error) {
	if id == "" || IsBatch(id) {
		return s.Lookup(ctx, id)
	}
	var sum [macLen]byte
	s.macTo(id, &sum)
	if e := s.cache.peek(sum[:]); e != nil {
		if !s.live(e) {
			return nil, nil
		}
		return e, nil
	}
	return s.lookupHash(ctx, string(sum[:]))
}

// lookupHash is Lookup by hash.
func (s *Store) lookupHash(ctx context.Context, hash string) (*Entry, error) {
	e, err := s.get(ctx, hash)
	if err != nil {
		return nil, err
	}
	if !s.live(e) {
		return nil, nil
	}
	return e, nil
}

// LookupAccessor returns the live entry whose accessor is accessor, or
// nil, nil when there is none.
func (s *Store) LookupAccessor(ctx context.Context, accessor string) (*Entry, error) {
	if accessor == "" {
		return nil, nil
	}
	ref, err := s.storage.Get(ctx, accessorPrefix+s.mac(accessor))
	if err != nil {
		return nil, fmt.Errorf("read token accessor: %w", err)
	}
	if ref == nil {
		return nil, nil
	}
	e, err := s.lookupHash(ctx, string(ref.Value))
	if err != nil || e == nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(e.Accessor), []byte(accessor)) != 1 {
		return nil, nil
	}
	return e, nil
}

// Use authenticates one request with token id: it is Lookup that also
// consumes one use of a token created with num_uses. The returned entry
// shows the uses left before this one, so NumUses == 1 means this was the
// last. The use that brings the count to zero succeeds and marks the token
// as being revoked, so no further request can use it; the caller serves the
// request it authenticated and then calls Revoke(ctx, entry.Hash) (should it
// not, the sweeper finishes the revocation a minute later). Use returns nil, nil when the
// token may not be used. Concurrent uses of one token are serialised, so a token with
// num_uses=n authenticates exactly n requests. A batch token is checked
// from what it carries, without a storage read (but for its parent's
// entry, usually cached, when it has one).
//
// The entry returned is READ-ONLY: for a token of unlimited uses found in
// the cache it is the cache's own copy, shared with every other request
// (no copy per request). Change a Clone of it. A revocation or any other
// write drops the cached entry before it returns, so the next Use reads
// storage again; a request holding the old entry was authenticated
// before that write.
func (s *Store) Use(ctx context.Context, id string) (*Entry, error) {
	if id == "" {
		return nil, nil
	}
	if IsBatch(id) {
		return s.lookupBatch(ctx, id)
	}
	var sum [macLen]byte
	s.macTo(id, &sum)
	// Unlimited uses spend nothing, so need neither the token's lock nor
	// a copy; a limited-use entry is never live with NumUses 0.
	if e := s.cache.peek(sum[:]); e != nil && e.NumUses == 0 && s.live(e) {
		return e, nil
	}
	hash := string(sum[:])
	mu := s.lockFor(hash)
	mu.Lock()
	e, err := s.get(ctx, hash)
	if err != nil || !s.live(e) {
		mu.Unlock()
		return nil, err
	}
	if e.NumUses == 0 {
		mu.Unlock()
		return e, nil
	}
	granted := e.clone()
	e.NumUses--
	last := e.NumUses == 0
	e.Revoking = last
	err = s.save(ctx, e)
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	if last {
		// The caller revokes it once the request it authenticated has been
		// served: what that request leaves in the token's name (a wrapping
		// token's cubbyhole being unwrapped, a lease being registered) must
		// outlive it. The sweeper finishes the job only if the caller never
		// does; the token authenticates nothing meanwhile.
		s.exp.track(hash, s.now().Add(usedUpGrace))
	}
	return granted, nil
}

// save writes e and drops its cached copy. The caller holds e's lock.
func (s *Store) save(ctx context.Context, e *Entry) error {
	defer s.cache.invalidate(e.Hash)
	ent, err := logical.JSONEntry(idPrefix+e.Hash, e)
	if err != nil {
		return err
	}
	if err := s.storage.Put(ctx, ent); err != nil {
		return fmt.Errorf("write token entry: %w", err)
	}
	return nil
}

// usedUpGrace is how long the sweeper leaves a token whose last use was
// granted to the caller, which is to revoke it after serving the request.
const usedUpGrace = time.Minute

type usedEntryKey struct{}

// WithUsedEntry returns a context carrying the entry Use returned for the
// request being served, so the token's own routes can describe a token
// whose last use that request was.
func WithUsedEntry(ctx context.Context, e *Entry) context.Context {
	return WithUsedEntryIn(new(UsedEntryContext), ctx, e)
}

// UsedEntryContext is the context WithUsedEntry returns, for a caller
// that places it inside a per-request allocation of its own
// (WithUsedEntryIn) rather than allocating one more context.
type UsedEntryContext struct {
	context.Context
	entry *Entry
}

// Value answers for the used entry and asks the parent for everything
// else, as context.WithValue's context does (cancellation included).
func (c *UsedEntryContext) Value(key any) any {
	if key == (usedEntryKey{}) {
		return c.entry
	}
	return c.Context.Value(key)
}

// WithUsedEntryIn is WithUsedEntry building the context in c, which must
// be unused and belong to this one request.
func WithUsedEntryIn(c *UsedEntryContext, ctx context.Context, e *Entry) context.Context {
	c.Context, c.entry = ctx, e
	return c
}

// UsedEntry returns the entry WithUsedEntry put in ctx, or nil: the token
// that authenticated the request being served, as it was before the use
// this request spent. It is the only way to see a token whose last use
// that was, since Lookup no longer finds it.
func UsedEntry(ctx context.Context) *Entry { return usedEntry(ctx) }

func usedEntry(ctx context.Context) *Entry {
	e, _ := ctx.Value(usedEntryKey{}).(*Entry)
	return e
}
