// Package cache is a read cache in front of a physical backend: an LRU of
// recently read or written entries, so hot secrets are served without a
// storage transaction. It caches what the physical layer holds, which is
// ciphertext, so it never keeps a plaintext secret or a key in memory.
//
// It assumes it is the only writer of the backend (one node), and is not a
// place for eviction policies beyond LRU (and the admission filter of
// admit.go) or for caching List results.
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

// promoteShare: a hit moves its entry to the front of the LRU (which takes
// the LRU's exclusive lock) only when more than size/promoteShare entries
// may have gone in front of it since it was last put there; other hits take
// only the read lock. The share is of the capacity, not of the entries
// held: a working set that fits in it (every hot entry read before that
// many moves) settles with no promotions at all, while a share of the
// entries held would make every hit promote once the working set filled
// it. An entry hit that often is never near the back under the count
// bound; under the byte bound it may go earlier than exact LRU would,
// which costs a storage read, never a stale value.
const promoteShare = 8

// item is a cached value (nil: absent) and the move count at which it was
// last put at the front of the LRU.
type item struct {
	v  []byte
	at atomic.Uint64
}

// Cache wraps a physical.Backend. Safe for concurrent use.
//
// A read that misses fills the cache only if no write to the same stripe of
// keys started or finished while it read, so a slow read can never put a
// value older than a completed write back into the cache. A write fills it
// with what it wrote when no other write to the stripe overlapped it (see
// write).
type Cache struct {
	b       physical.Backend
	lru     *lru.Cache[string, *item]
	bytes   atomic.Int64 // held by the entries, as entrySize counts them
	promote uint64       // size/promoteShare
	// moves counts the entries put at the front of the LRU (added or
	// promoted): an entry is at most moves-item.at places from the front.
	moves    atomic.Uint64
	maxBytes int64
	// ended counts writes that ended (see BeginRead); each adds to it
	// before it advances its keys' stripes.
	ended atomic.Uint64
	seed  maphash.Seed
	door  *doorkeeper // which reads may fill the cache (admit.go)
	locks [stripes]stripe
}

type stripe struct {
	mu  sync.Mutex
	gen uint64
	// writers counts the keys of writes in flight on the stripe.
	writers int
}

var (
	_ physical.Backend       = (*Cache)(nil)
	_ physical.Transactional = (*Cache)(nil)
	_ physical.SharedGetter  = (*Cache)(nil)
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
	c := &Cache{b: b, seed: maphash.MakeSeed(), maxBytes: maxBytes, promote: uint64(size / promoteShare),
		door: newDoorkeeper(size)}
	// only errors on size <= 0
	c.lru, _ = lru.NewWithEvict(size, func(k string, it *item) {
		c.bytes.Add(-entrySize(k, it.v))
	})
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
	it := &item{v: v}
	it.at.Store(c.moves.Add(1))
	if found, _ := c.lru.ContainsOrAdd(key, it); found {
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

// hit returns key's cached value under the LRU's read lock, promoting it
// when it may have drifted size/promoteShare places from the front.
// A write that drops key between the look-up and the promotion makes the
// promotion a no-op; the value returned was current when looked up, as
// with any read that overlaps a write.
func (c *Cache) hit(key string) ([]byte, bool) {
	it, ok := c.lru.Peek(key)
	if !ok {
		return nil, false
	}
	if c.moves.Load()-it.at.Load() > c.promote {
		c.lru.Get(key)
		it.at.Store(c.moves.Add(1))
	}
	return it.v, true
}

// Get returns a cached copy or reads through. A nil value is cached as
// "absent" too, since misses for unknown tokens and paths are common.
func (c *Cache) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if v, ok := c.hit(key); ok {
		if v == nil {
			return nil, nil
		}
		// A copy, so that a caller writing into the value cannot change
		// what the next reader gets.
		return &physical.Entry{Key: key, Value: append([]byte(nil), v...)}, nil
	}
	return c.readThrough(ctx, key)
}

// GetShared implements physical.SharedGetter: Get without the copy of a
// cached value, which the caller must then leave unchanged. The cache
// itself never changes a value it holds (writes replace it).
func (c *Cache) GetShared(ctx context.Context, key string) (*physical.Entry, error) {
	if v, ok := c.hit(key); ok {
		if v == nil {
			return nil, nil
		}
		return &physical.Entry{Key: key, Value: v}, nil
	}
	return c.readThrough(ctx, key)
}

// readThrough reads key from the backend and caches what it found unless
// a write to the key's stripe began meanwhile.
func (c *Cache) readThrough(ctx context.Context, key string) (*physical.Entry, error) {
	return c.fetch(ctx, key, c.admit(key))
}

// admit reports whether a value of key read from storage may fill the
// cache (see doorkeeper).
func (c *Cache) admit(key string) bool { return c.door == nil || c.door.admit(key) }

// fetch is readThrough once the doorkeeper has decided: without admit it
// only reads.
func (c *Cache) fetch(ctx context.Context, key string, admit bool) (*physical.Entry, error) {
	if !admit {
		return c.b.Get(ctx, key)
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

// update is one key a write changes and the value it puts there, as the
// cache would serve it; nil for a delete, which only drops the key.
type update struct {
	key   string
	value []byte
}

// write runs fn, which applies upd, with the cache kept coherent: the keys'
// stripes advance before and after, so that no read that overlapped the
// write fills the cache.
//
// When fn succeeds, a key put is cached with its new value (so that
// the next read of a key just written, such as a KV write's metadata read
// again by the next write's existence check, needs no storage read), but
// only if its stripe had no other write in flight at the end and none that
// ended since this one began: then no other write can have committed after
// this one, and the next write to begin drops the entry again. Otherwise,
// and when fn fails, the keys are dropped.
func (c *Cache) write(upd []update, fn func() error) error {
	for _, u := range upd {
		s := c.stripe(u.key)
		s.mu.Lock()
		s.gen++
		s.writers++
		c.lru.Remove(u.key)
		s.mu.Unlock()
	}
	// Read once every key's stripe has advanced, so that two keys of this
	// write on one stripe expect the same generation.
	want := make([]uint64, len(upd))
	for i, u := range upd {
		want[i] = c.stripe(u.key).generation()
	}
	err := fn()
	c.ended.Add(1)
	for i, u := range upd {
		s := c.stripe(u.key)
		// This write's own keys on the stripe: those ended before this
		// one (each advanced it once) and those still in flight.
		ended, open := 0, 0
		for j, v := range upd {
			if c.stripe(v.key) == s {
				if j < i {
					ended++
				} else {
					open++
				}
			}
		}
		s.mu.Lock()
		// A read that began after this write did may have cached what it
		// found meanwhile: drop it either way.
		c.lru.Remove(u.key)
		if err == nil && u.value != nil && s.writers == open && s.gen == want[i]+uint64(ended) {
			c.add(u.key, u.value)
		}
		s.gen++
		s.writers--
		s.mu.Unlock()
	}
	return err
}

// stored is the value the cache keeps for a put of v: a private copy,
// non-nil even when empty (nil means absent).
func stored(v []byte) []byte { return append([]byte{}, v...) }

func (c *Cache) Put(ctx context.Context, e *physical.Entry) error {
	if e == nil {
		return c.b.Put(ctx, e) // the backend names the mistake
	}
	return c.write([]update{{e.Key, stored(e.Value)}}, func() error { return c.b.Put(ctx, e) })
}

func (c *Cache) Delete(ctx context.Context, key string) error {
	return c.write([]update{{key, nil}}, func() error { return c.b.Delete(ctx, key) })
}

// List is not cached.
func (c *Cache) List(ctx context.Context, prefix string) ([]string, error) {
	return c.b.List(ctx, prefix)
}

// Transaction applies ops through the backend, atomically when it can.
func (c *Cache) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	upd := make([]update, 0, len(ops))
	for _, op := range ops {
		switch {
		case op.Entry == nil: // the backend refuses the transaction
		case op.Delete:
			upd = append(upd, update{op.Entry.Key, nil})
		default:
			upd = append(upd, update{op.Entry.Key, stored(op.Entry.Value)})
		}
	}
	return c.write(upd, func() error {
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
