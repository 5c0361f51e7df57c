package quota

import (
	"container/list"
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxClients caps how many client addresses one quota tracks at once.
// Past it the least recently seen client is forgotten, which at worst hands
// it a fresh bucket: memory stays bounded under a flood of spoofed or
// rotating addresses.
const DefaultMaxClients = 64 << 10

// maxBurst and maxIdle keep absurd rates (1e300 per second, 1e-300 per
// second) inside the integer types the buckets use.
const (
	maxBurst = 1 << 30
	maxIdle  = 100 * 365 * 24 * time.Hour
)

// rule is a Quota compiled for matching, with its per-client buckets.
type rule struct {
	q      Quota
	prefix string // what the path must start with; "" for a global rule
	exact  bool   // the path must equal prefix (or prefix + "/")
	limit  rate.Limit
	burst  int
	// idle is how long after its last request a client's bucket is full
	// and its block over, so that forgetting it changes nothing.
	idle time.Duration
	max  int

	mu      sync.Mutex
	clients map[string]*list.Element // of *client
	lru     list.List                // front is the most recently seen
}

type client struct {
	key          string
	lim          *rate.Limiter
	lastSeen     time.Time
	blockedUntil time.Time
}

func newRule(q Quota, maxClients int) *rule {
	r := &rule{q: q, max: maxClients, clients: map[string]*list.Element{}}
	switch {
	case q.Path == "":
	case strings.HasSuffix(q.Path, "*"):
		r.prefix = strings.TrimSuffix(q.Path, "*")
	case strings.HasSuffix(q.Path, "/"):
		r.prefix = q.Path
	default:
		r.prefix, r.exact = q.Path, true
	}
	// Vault's rate is per interval and a client may spend a whole
	// interval's worth at once: that is the bucket's size.
	r.limit = rate.Limit(q.Rate / q.Interval.Seconds())
	r.burst = int(math.Min(math.Max(1, math.Ceil(q.Rate)), maxBurst))
	// A tiny rate refills over ages: clamp rather than overflow.
	refill := math.Min(float64(r.burst)/float64(r.limit)*float64(time.Second), float64(maxIdle))
	r.idle = time.Duration(refill) + q.BlockInterval
	return r
}

// covers reports whether the rule applies to a request path.
func (r *rule) covers(path string) bool {
	switch {
	case r.exact:
		return path == r.prefix || (len(path) == len(r.prefix)+1 && path[len(path)-1] == '/' && path[:len(r.prefix)] == r.prefix)
	case r.prefix == "":
		return true
	}
	return strings.HasPrefix(path, r.prefix) || path+"/" == r.prefix
}

// specificity orders rules: exact paths first, then longer prefixes, then
// the global rule, as Vault documents.
func (r *rule) specificity() int {
	if r.exact {
		return 1<<20 + len(r.prefix)
	}
	return len(r.prefix)
}

// allow spends one token of key's bucket at now, and when it cannot, says
// how long until the client may try again.
func (r *rule) allow(key string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.client(key, now)
	c.lastSeen = now
	if now.Before(c.blockedUntil) {
		return false, c.blockedUntil.Sub(now)
	}
	if c.lim.AllowN(now, 1) {
		return true, 0
	}
	if r.q.BlockInterval > 0 {
		c.blockedUntil = now.Add(r.q.BlockInterval)
		return false, r.q.BlockInterval
	}
	missing := 1 - c.lim.TokensAt(now)
	return false, time.Duration(math.Min(missing/float64(r.limit)*float64(time.Second), float64(maxIdle)))
}

// client finds or makes key's entry, moving it to the front, and forgets
// clients that have gone idle or that no longer fit. Called with mu held.
func (r *rule) client(key string, now time.Time) *client {
	if e, ok := r.clients[key]; ok {
		r.lru.MoveToFront(e)
		return e.Value.(*client)
	}
	for back := r.lru.Back(); back != nil; back = r.lru.Back() {
		c := back.Value.(*client)
		if r.lru.Len() < r.max && now.Sub(c.lastSeen) < r.idle {
			break
		}
		r.lru.Remove(back)
		delete(r.clients, c.key)
	}
	c := &client{key: key, lim: rate.NewLimiter(r.limit, r.burst), lastSeen: now}
	r.clients[key] = r.lru.PushFront(c)
	return c
}

// tracked reports how many clients the rule holds, for tests.
func (r *rule) tracked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}
