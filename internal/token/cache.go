package token

import "sync"

// cacheSize bounds the entries kept in memory; a full cache evicts an
// arbitrary entry, which only costs one storage read later.
const cacheSize = 4096

// entryCache maps token hashes to entries so that the lookup every request
// makes rarely reaches storage. Every write to a token invalidates its
// entry; the generation counter stops a reader that loaded an entry before
// a write from caching what it read after that write.
//
// The entries in the map are the cache's own copies and are never changed
// once put: get hands out copies, peek the entry itself, read-only.
type entryCache struct {
	mu  sync.RWMutex
	gen uint64
	max int
	m   map[string]*Entry
}

func newEntryCache(max int) *entryCache {
	return &entryCache{max: max, m: make(map[string]*Entry, max)}
}

// get returns a copy of the cached entry, or nil, and the generation to pass
// to put after a storage read.
func (c *entryCache) get(hash string) (*Entry, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.m[hash]; ok {
		return e.clone(), c.gen
	}
	return nil, c.gen
}

// peek returns the cached entry for hash (hex, as bytes) itself, shared
// with every other reader, or nil. The caller must not change it. Looking
// up a []byte converted in the index expression allocates nothing.
func (c *entryCache) peek(hash []byte) *Entry {
	c.mu.RLock()
	e := c.m[string(hash)]
	c.mu.RUnlock()
	return e
}

// put caches a copy of e unless some write happened since generation gen.
func (c *entryCache) put(hash string, e *Entry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[hash] = e.clone()
}

// invalidate drops hash and fences out concurrent puts of older reads.
func (c *entryCache) invalidate(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, hash)
}

// clear drops everything, for Stop.
func (c *entryCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
