package cache

import "github.com/cofferhq/coffer/internal/physical"

// Purge drops every cached entry, for a server whose storage others may
// have written (a standby of shared PostgreSQL becoming active). Reads in
// flight when it runs do not put what they read back into the cache.
func (c *Cache) Purge() {
	for i := range c.locks {
		s := &c.locks[i]
		s.mu.Lock()
		s.gen++
		s.mu.Unlock()
	}
	c.lru.Purge()
}

// Unwrap returns the backend beneath the cache, for the capabilities it
// has beyond physical.Backend (HA).
func (c *Cache) Unwrap() physical.Backend { return c.b }
