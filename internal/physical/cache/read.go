package cache

import (
	"context"

	"github.com/cofferhq/coffer/internal/physical"
)

var _ physical.ReadBeginner = (*Cache)(nil)

// BeginRead implements physical.ReadBeginner. Hits are served from the
// cache; the backend's read is begun at the first miss, so a read whose
// keys are all cached costs no storage transaction.
//
// A value read from the backend's read may be older than a write that
// ended after that read began (a snapshot). It is cached only when no
// write ended since: the read notes c.ended before it begins the
// backend's read, and a miss fills the cache only if c.ended has not
// moved by the time it takes the key's stripe generation (after which
// the stripe's own generation guards it, as in readThrough). Otherwise the
// key is read through on its own, as Get does.
func (c *Cache) BeginRead(context.Context) (physical.ReadTx, error) {
	return &cacheRead{c: c}, nil
}

type cacheRead struct {
	c     *Cache
	inner physical.ReadTx // begun at the first miss
	ended uint64          // c.ended before inner began
}

func (r *cacheRead) Get(ctx context.Context, key string) ([]byte, bool, error) {
	c := r.c
	if v, ok := c.hit(key); ok {
		return v, v != nil, nil
	}
	if r.inner == nil {
		r.ended = c.ended.Load()
		in, err := physical.BeginRead(ctx, c.b)
		if err != nil {
			return nil, false, err
		}
		r.inner = in
	}
	admit := c.admit(key)
	var s *stripe
	var gen uint64
	if admit {
		s = c.stripe(key)
		gen = s.generation()
	}
	if c.ended.Load() != r.ended {
		e, err := c.fetch(ctx, key, admit)
		if err != nil || e == nil {
			return nil, false, err
		}
		return e.Value, true, nil
	}
	v, found, err := r.inner.Get(ctx, key)
	if err != nil || !admit {
		return v, found, err
	}
	var cached []byte // nil means absent
	if found {
		// Never changed (see physical.ReadTx): kept without a copy.
		cached = v
		if cached == nil {
			cached = []byte{}
		}
	}
	s.mu.Lock()
	if s.gen == gen {
		c.add(key, cached)
	}
	s.mu.Unlock()
	return v, found, nil
}

func (r *cacheRead) Done() {
	if r.inner != nil {
		r.inner.Done()
		r.inner = nil
	}
}
