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
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cofferhq/coffer/internal/physical"
)

// DefaultSize is the number of entries kept when New is given 0.
const DefaultSize = 32 * 1024

// DefaultMaxBytes bounds the bytes the entries hold (keys, values and
// about entryOverhead each), whatever their number: 32,768 small entries
// take about 15 MiB, so the count binds first for ordinary secrets, and
// large ones cannot make the cache hold gigabytes.
const DefaultMaxBytes = 32 << 20

// entryOverhead approximates what the LRU spends on an entry besides its
// key and value (list element, map slot, slice header).
const entryOverhead = 128

// maxEntryShare: an entry larger than maxBytes/maxEntryShare is served but
// not cached, so that one large secret cannot push out many small ones.
const maxEntryShare = 64

const stripes = 256

// Cache wraps a physical.Backend. Safe for concurrent use.
//
// A read that misses fills the cache only if no write to the same stripe of
// keys started or finished while it read, so a slow read can never put a
// value older than a completed write back into the cache.
type Cache struct {
	b        physical.Backend
	lru      *lru.Cache[string, []byte]
	bytes    atomic.Int64 // held by the entries, as entrySize counts them
	maxBytes int64
	seed     maphash.Seed
	locks    [stripes]stripe
}

type stripe struct {
	mu  sync.Mutex
	gen uint64
}

var (
	_ physical.Backend       = (*Cache)(nil)
	_ physical.Transactional = (*Cache)(nil)
)

// New returns a cache of size entries (DefaultSize when 0) over b, which
// holds at most DefaultMaxBytes.
func New(b physical.Backend, size int) *Cache { return NewBounded(b, size, DefaultMaxBytes) }

// NewBounded is New with a bound on the bytes held (DefaultMaxBytes when
// 0): least recently used entries go when either bound is passed.
func NewBounded(b physical.Backend, size int, maxBytes int64) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	c := &Cache{b: b, seed: maphash.MakeSeed(), maxBytes: maxBytes}
	// only errors on size <= 0
	c.lru, _ = lru.NewWithEvict(size, func(k string, v []byte) { c.bytes.Add(-entrySize(k, v)) })
	return c
}

func entrySize(k string, v []byte) int64 { return int64(len(k) + len(v) + entryOverhead) }

// Bytes reports what the entries hold, as the byte bound counts it.
func (c *Cache) Bytes() int64 { return c.bytes.Load() }

// Len reports the number of entries.
func (c *Cache) Len() int { return c.lru.Len() }

// add caches v (nil: absent) unless it is too large or already there,
// then evicts until the byte bound holds. The caller holds key's stripe.
func (c *Cache) add(key string, v []byte) {
	n := entrySize(key, v)
	if n > c.maxBytes/maxEntryShare {
		return
	}
	if found, _ := c.lru.ContainsOrAdd(key, v); found {
		return
	}
	if c.bytes.Add(n) <= c.maxBytes {
		return
	}
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			return
		}
	}
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
		c.add(key, v)
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
