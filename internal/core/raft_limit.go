package core

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cofferhq/coffer/internal/logical"
)

// Bounds of unauthenticated join traffic. A challenge costs the leader an
// encryption and an answer a decryption, and anyone who reaches the API
// may ask; a join needs one of each, and retry_join asks every 2 s.
const (
	// joinPerClient is each caller address's steady rate, joinBurst what
	// it may ask at once.
	joinPerClient = rate.Limit(2)
	joinBurst     = 10
	// challengesPerSecond bounds challenges from every caller together,
	// so that many addresses cannot add up to a flood.
	challengesPerSecond = rate.Limit(20)
	challengesBurst     = 40
	// maxJoinClients bounds the addresses remembered; idle ones are
	// forgotten after joinClientIdle, and while the table is full of
	// active ones new addresses are refused.
	maxJoinClients = 4096
	joinClientIdle = time.Minute
)

// joinLimiter rate-limits join challenges and answers; the zero value is
// ready. Safe for concurrent use. A refusal costs a map look-up.
type joinLimiter struct {
	mu      sync.Mutex
	all     *rate.Limiter
	clients map[string]*joinClient
	// pruned is when idle addresses were last forgotten; a full table is
	// scanned at most once a second.
	pruned time.Time
}

type joinClient struct {
	lim  *rate.Limiter
	seen time.Time
}

func errJoinRateLimited(what string) error {
	return logical.CodedError(logical.ErrRateLimited, "too many raft join %s requests; retry in a few seconds", what)
}

// allowChallenge admits one challenge from remote, or returns a 429 error.
func (l *joinLimiter) allowChallenge(remote string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.all == nil {
		l.all = rate.NewLimiter(challengesPerSecond, challengesBurst)
	}
	if !l.clientAllowed(remote, now) || !l.all.AllowN(now, 1) {
		return errJoinRateLimited("challenge")
	}
	return nil
}

// allowAnswer admits one answer from remote, or returns a 429 error. Only
// the caller's own budget counts, so that a flood of challenges from
// elsewhere does not stop a node that already holds one from answering.
func (l *joinLimiter) allowAnswer(remote string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.clientAllowed(remote, now) {
		return errJoinRateLimited("answer")
	}
	return nil
}

// clientAllowed takes a token from remote's bucket (keyed by host, not
// port). Called with mu held.
func (l *joinLimiter) clientAllowed(remote string, now time.Time) bool {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	if l.clients == nil {
		l.clients = map[string]*joinClient{}
	}
	c := l.clients[host]
	if c == nil {
		if len(l.clients) >= maxJoinClients && now.Sub(l.pruned) > time.Second {
			l.pruned = now
			for k, v := range l.clients {
				if now.Sub(v.seen) > joinClientIdle {
					delete(l.clients, k)
				}
			}
		}
		if len(l.clients) >= maxJoinClients {
			return false
		}
		c = &joinClient{lim: rate.NewLimiter(joinPerClient, joinBurst)}
		l.clients[host] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}
