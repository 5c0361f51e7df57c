// Package cache is a read cache in front of a physical backend: an LRU of
// recently read or written entries, so hot secrets are served without a
// storage transaction. It caches what the physical layer holds, which is
// ciphertext, so it never keeps a plaintext secret or a key in memory.
//
// It assumes it is the only writer of the backend (one node), and is not a
// place for eviction policies beyond LRU or for caching List results.
package cache

import (
	"context"
	"hash/maphash"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cofferhq/coffer/internal/physical"
)

// DefaultSize is the number of entries kept when New is given 0.
const DefaultSize = 32 * 1024

const stripes = 256

// Cache wraps a physical.Backend. Safe for concurrent use.
//
// A read that misses fills the cache only if no write to the same stripe of
// keys started or finished while it read, so a slow read can never put a
// value older than a completed write back into the cache.
type Cache struct {
	b     physical.Backend
	lru   *lru.Cache[string, []byte]
	seed  maphash.Seed
	locks [stripes]stripe
}

type stripe struct {
	mu  sync.Mutex
	gen uint64
}

var (
	_ physical.Backend       = (*Cache)(nil)
	_ physical.Transactional = (*Cache)(nil)
)

// New returns a cache of size entries (DefaultSize when 0) over b.
func New(b physical.Backend, size int) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	l, _ := lru.New[string, []byte](size) // only errors on size <= 0
	return &Cache{b: b, lru: l, seed: maphash.MakeSeed()}
}

func (c *Cache) stripe(key string) *stripe {
	return &c.locks[maphash.String(c.seed, key)%stripes]
}

func (s *stripe) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Get returns a cached copy or reads through. A nil value is cached as
// "absent" too, since misses for unknown tokens and paths are common.
func (c *Cache) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if v, ok := c.lru.Get(key); ok {
		if v == nil {
			return nil, nil
		}
		// A copy, so that a caller writing into the value cannot change
		// what the next reader gets.
		return &physical.Entry{Key: key, Value: append([]byte(nil), v...)}, nil
	}
	s := c.stripe(key)
	gen := s.generation()
	e, err := c.b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	var v []byte // nil means absent
	if e != nil {
		v = append([]byte{}, e.Value...) // non-nil even when empty
	}
	s.mu.Lock()
	if s.gen == gen {
		c.lru.Add(key, v)
	}
	s.mu.Unlock()
	return e, nil
}

// write runs fn, which changes the keys, with the cache kept coherent: the
// keys' stripes advance before and after, and the entries are dropped after.
func (c *Cache) write(keys []string, fn func() error) error {
	c.bump(keys)
	err := fn()
	c.bump(keys)
	return err
}

func (c *Cache) bump(keys []string) {
	for _, k := range keys {
		s := c.stripe(k)
		s.mu.Lock()
		s.gen++
		c.lru.Remove(k)
		s.mu.Unlock()
	}
}

func (c *Cache) Put(ctx context.Context, e *physical.Entry) error {
	if e == nil {
		return c.b.Put(ctx, e) // the backend names the mistake
	}
	return c.write([]string{e.Key}, func() error { return c.b.Put(ctx, e) })
}

func (c *Cache) Delete(ctx context.Context, key string) error {
	return c.write([]string{key}, func() error { return c.b.Delete(ctx, key) })
}

// List is not cached.
func (c *Cache) List(ctx context.Context, prefix string) ([]string, error) {
	return c.b.List(ctx, prefix)
}

// Transaction applies ops through the backend, atomically when it can.
func (c *Cache) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	keys := make([]string, 0, len(ops))
	for _, op := range ops {
		if op.Entry != nil {
			keys = append(keys, op.Entry.Key)
		}
	}
	return c.write(keys, func() error {
		if t, ok := c.b.(physical.Transactional); ok {
			return t.Transaction(ctx, ops)
		}
		for _, op := range ops {
			var err error
			if op.Delete {
				err = c.b.Delete(ctx, op.Entry.Key)
			} else {
				err = c.b.Put(ctx, op.Entry)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
