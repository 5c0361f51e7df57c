package loginlimit

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/quota"
)

// The defaults: ten failures at once, then one per second, for at most
// 65,536 (role, address) pairs at a time.
const (
	DefaultBurst   = 10
	DefaultRefill  = time.Second
	DefaultMaxKeys = 1 << 16
)

// UnknownRole is the role name to count attempts at roles that do not
// exist under, all together: a caller spraying made-up role names is then
// limited as one guessing at one role would be.
const UnknownRole = "\x00unknown"

// Config tunes a Limiter; zero fields take the defaults.
type Config struct {
	// Burst is how many failed logins a (role, address) pair may make
	// before it is refused.
	Burst int
	// Refill is how long the count takes to forget one failure.
	Refill time.Duration
	// MaxKeys bounds the pairs remembered; when full, pairs whose count has
	// drained are forgotten first, then arbitrary ones.
	MaxKeys int
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

// Limiter counts failed logins per (role, client address). Safe for
// concurrent use.
type Limiter struct {
	burst   float64
	refill  time.Duration
	maxKeys int
	now     func() time.Time

	mu sync.RWMutex
	m  map[pair]*bucket
}

type pair struct{ role, host string }

// bucket is a pair's failure count as of at; it drains by one per refill.
type bucket struct {
	level float64
	at    time.Time
}

// New returns a Limiter with cfg's settings.
func New(cfg Config) *Limiter {
	l := &Limiter{burst: float64(cfg.Burst), refill: cfg.Refill, maxKeys: cfg.MaxKeys, now: cfg.Now, m: map[pair]*bucket{}}
	if l.burst <= 0 {
		l.burst = DefaultBurst
	}
	if l.refill <= 0 {
		l.refill = DefaultRefill
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// drained returns b's level at now.
func (l *Limiter) drained(b *bucket, now time.Time) float64 {
	return math.Max(0, b.level-float64(now.Sub(b.at))/float64(l.refill))
}

// Allow returns nil when a login for role from remoteAddr ("host:port" or
// a bare address) may be attempted, and otherwise a
// *logical.RateLimitedError (a 429) saying when to try again. Call it
// before doing any work for the login; it records nothing.
func (l *Limiter) Allow(role, remoteAddr string) error {
	k := pair{role: role, host: quota.ClientHost(remoteAddr)}
	now := l.now()
	l.mu.RLock()
	b := l.m[k]
	var level float64
	if b != nil {
		level = l.drained(b, now)
	}
	l.mu.RUnlock()
	if level <= l.burst-1 {
		return nil
	}
	wait := time.Duration((level - (l.burst - 1)) * float64(l.refill))
	secs := int64(math.Ceil(wait.Seconds()))
	what := fmt.Sprintf("for role %q", role)
	if role == UnknownRole {
		what = "to roles that do not exist"
	}
	return &logical.RateLimitedError{
		RetryAfter: wait,
		Reason: fmt.Sprintf("too many failed logins %s from this address: try again in %d second%s",
			what, secs, plural(secs)),
	}
}

// Fail records a failed login for role from remoteAddr. Call it for
// failures that are the caller's (a bad token, an unbound claim, an unknown
// role), not for the server's (storage, an unreachable key server).
func (l *Limiter) Fail(role, remoteAddr string) {
	k := pair{role: role, host: quota.ClientHost(remoteAddr)}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[k]
	if b == nil {
		if len(l.m) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{}
		l.m[k] = b
	}
	b.level = l.drained(b, now) + 1
	b.at = now
}

// evict makes room: it forgets every drained pair, or, when none has
// drained, one arbitrary pair (so a flood of new addresses cannot grow the
// map without limit). l.mu is held.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.m {
		if l.drained(b, now) == 0 {
			delete(l.m, k)
		}
	}
	if len(l.m) < l.maxKeys {
		return
	}
	for k := range l.m {
		delete(l.m, k)
		return
	}
}

// Len is how many pairs are remembered, for tests and metrics.
func (l *Limiter) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.m)
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
