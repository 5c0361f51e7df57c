package csiprovider

import (
	"math/rand/v2"
	"sync"
	"time"
)

// maxCached bounds each cache; past it, expired entries go first, then the
// whole cache (a provider serving more pods than this on one node is
// merely slower, never wrong).
const maxCached = 10000

// cached is a login token or a dynamic secret's response, with the time
// after which it is no longer handed out.
type cached[T any] struct {
	val     T
	expires time.Time
}

// ttlCache is a map of values that expire. Keys are hashes that include
// the pod's identity, so one pod never gets another's entry. Safe for
// concurrent use. It holds secrets in memory only.
type ttlCache[T any] struct {
	mu sync.Mutex
	m  map[string]cached[T]
}

func (c *ttlCache[T]) get(key string, now time.Time) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		var zero T
		return zero, false
	}
	return e.val, true
}

func (c *ttlCache[T]) put(key string, v T, expires time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cached[T]{}
	}
	if len(c.m) >= maxCached {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCached {
			clear(c.m)
		}
	}
	c.m[key] = cached[T]{val: v, expires: expires}
}

func (c *ttlCache[T]) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// reuseUntil is how long a leased value of duration d obtained at t is
// handed out again: until a tenth of the lease (at least 5 s, at most
// 5 min) is left, so a pod never receives a credential about to expire.
func reuseUntil(t time.Time, d time.Duration) time.Time {
	margin := min(max(d/10, 5*time.Second), 5*time.Minute)
	return t.Add(d - margin)
}

// backoff remembers, per Coffer address, that it was unreachable, sealed or
// rate limiting, and refuses to contact it again until a growing, jittered
// delay has passed: the driver retries every pod's mount, and a sick server
// should not get all of them at once. Safe for concurrent use.
type backoff struct {
	mu   sync.Mutex
	m    map[string]*backoffState
	base time.Duration
	max  time.Duration
}

type backoffState struct {
	failures int
	until    time.Time
	err      *MountError
}

// check returns the error that put addr in back-off while it lasts, else nil.
func (b *backoff) check(addr string, now time.Time) *MountError {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[addr]
	if !ok || !now.Before(s.until) {
		return nil
	}
	return &MountError{Code: s.err.Code, Msg: s.err.Msg + "; backing off: Coffer is not asked again before " + s.until.UTC().Format(time.RFC3339)}
}

func (b *backoff) fail(addr string, err *MountError, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*backoffState{}
	}
	// Addresses come from SecretProviderClasses: bounded as the caches are,
	// the ones whose back-off has passed going first.
	if _, ok := b.m[addr]; !ok && len(b.m) >= maxCached {
		for k, s := range b.m {
			if !now.Before(s.until) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxCached {
			clear(b.m)
		}
	}
	s := b.m[addr]
	if s == nil {
		s = &backoffState{}
		b.m[addr] = s
	}
	s.failures++
	d := b.base << min(s.failures-1, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	d = d/2 + rand.N(d/2+1) // jitter: between half and all of it
	s.until, s.err = now.Add(d), err
}

func (b *backoff) ok(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, addr)
}
