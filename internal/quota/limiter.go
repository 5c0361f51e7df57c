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

// allow spends one token of key's bucket at now, and reports the bucket
// after it; when it cannot, the decision says how long until the client may
// try again.
func (r *rule) allow(key string, now time.Time) Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.client(key, now)
	c.lastSeen = now
	d := Decision{Quota: r.q.Name}
	if now.Before(c.blockedUntil) {
		// As Vault: a blocked client learns only when to come back.
		d.RetryAfter = c.blockedUntil.Sub(now)
		return d
	}
	d.Allowed = c.lim.AllowN(now, 1)
	tokens := c.lim.TokensAt(now)
	d.Counted, d.Limit = true, r.burst
	d.Remaining = int(math.Max(0, math.Floor(tokens)))
	d.Reset = r.refill(float64(r.burst) - tokens)
	switch {
	case d.Allowed:
	case r.q.BlockInterval > 0:
		c.blockedUntil = now.Add(r.q.BlockInterval)
		d.RetryAfter = r.q.BlockInterval
	default:
		d.RetryAfter = r.refill(1 - tokens)
	}
	return d
}

// refill is how long the bucket takes to gain n tokens, clamped so that an
// absurdly slow rate cannot overflow a Duration.
func (r *rule) refill(n float64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(math.Min(n/float64(r.limit)*float64(time.Second), float64(maxIdle)))
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
