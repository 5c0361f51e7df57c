package httpapi

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// DecodeBudgetFactor sizes a BodyBudget's decoding side: it is this many
// times the largest body, enough to decode and handle one body of the
// largest allowed size made of strings (which decodeCost charges at six
// times its size) alongside smaller ones.
const DecodeBudgetFactor = 8

// Tuning of the return of memory after large bodies.
const (
	// idleReleaseThreshold is how much bodies must have held since the last
	// release before a release is worth its cost.
	idleReleaseThreshold = 16 << 20
	// idleDelay is how long no body must be in flight before a release,
	// so a burst is not interrupted by one.
	idleDelay = time.Second
	// idleMinInterval spaces releases, so that large bodies sent on purpose
	// cannot make the server collect its heap over and over.
	idleMinInterval = 10 * time.Second
)

// BodyBudget bounds the memory request bodies take at once, across every
// listener that shares it. A body is first charged its size while it is
// read (at most the read budget at once), then an estimate of what decoding
// and handling it costs (at most the decode budget at once); both charges
// are held until the response is written. Requests wait for their turn in
// arrival order, and stop waiting when their context ends. A request that
// holds a read charge never waits for anything but a decode charge, and
// one holding a decode charge waits for nothing, so the two cannot
// deadlock. Bodies of requests without a token (logins, unseal) read
// within a share of the read budget of their own (TokenlessShare), so that
// however many of them trickle in, requests that carry a token always find
// most of it free. Safe for concurrent use.
type BodyBudget struct {
	readSize, decodeSize, tokenlessSize int64
	read, decode, tokenless             *semaphore.Weighted

	onIdle func()
	after  func(time.Duration, func()) // time.AfterFunc; replaced in tests
	now    func() time.Time

	mu       sync.Mutex
	busy     int       // requests holding a charge
	charged  int64     // bytes held by bodies since onIdle last ran
	pending  bool      // an onIdle call is scheduled
	lastIdle time.Time // when onIdle last ran
}

// NewBodyBudget returns a budget for request bodies of up to maxRequestSize
// bytes (DefaultMaxRequestSize when it is not positive): at most that many
// bytes of bodies are held while being read, and at most
// DecodeBudgetFactor times that is charged for decoding at once.
//
// onIdle, when not nil, is called on its own goroutine once large bodies
// have been served and no body has been in flight for a second, at most
// once every ten seconds; the server passes debug.FreeOSMemory, so that the
// memory a burst of large bodies took goes back to the operating system
// instead of staying with the process until the next collection.
func NewBodyBudget(maxRequestSize int64, onIdle func()) *BodyBudget {
	if maxRequestSize <= 0 {
		maxRequestSize = DefaultMaxRequestSize
	}
	tokenless := max(maxRequestSize/TokenlessShare, 1)
	return &BodyBudget{
		readSize: maxRequestSize, decodeSize: DecodeBudgetFactor * maxRequestSize, tokenlessSize: tokenless,
		read: semaphore.NewWeighted(maxRequestSize), decode: semaphore.NewWeighted(DecodeBudgetFactor * maxRequestSize),
		tokenless: semaphore.NewWeighted(tokenless),
		onIdle:    onIdle,
		after:     func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		now:       time.Now,
	}
}

// ReadSize is the most bytes of bodies read at once, and so the largest
// body the budget lets through.
func (b *BodyBudget) ReadSize() int64 { return b.readSize }

// TokenlessShare: bodies of requests without a token hold at most
// 1/TokenlessShare of the read budget between them. Anyone can open
// connections without a token and send their bodies slowly; without a
// share of their own they could hold the whole budget and stall every
// write for as long as the server waits for a body.
const TokenlessShare = 4

// TokenlessReadSize is the most bytes of token-less bodies read at once,
// and so the largest token-less body the budget lets through.
func (b *BodyBudget) TokenlessReadSize() int64 { return b.tokenlessSize }

// DecodeSize is the most decoding cost charged at once, and so the largest
// estimate a single body may have.
func (b *BodyBudget) DecodeSize() int64 { return b.decodeSize }

// charge is one request's hold on a BodyBudget. Its methods are called by
// the request's own goroutine only.
type charge struct {
	b            *BodyBudget
	read, decode int64
	tokenless    bool  // reads within the token-less share as well
	total        int64 // the most this request held, for onIdle
	started      bool
}

// start registers a request that is about to charge the budget.
func (b *BodyBudget) start() *charge {
	b.mu.Lock()
	b.busy++
	b.mu.Unlock()
	return &charge{b: b, started: true}
}

// startTokenless is start for a request without a token: its read charge
// also comes out of the token-less share.
func (b *BodyBudget) startTokenless() *charge {
	c := b.start()
	c.tokenless = true
	return c
}

// acquireRead charges n bytes of reading, waiting until they are free or
// ctx ends. n is clamped to the read budget, so one body larger than it
// (which the caller refuses before reading) could never wait forever.
func (c *charge) acquireRead(ctx context.Context, n int64) error {
	n = min(n, c.b.readSize)
	if c.tokenless {
		// The share first, then the budget, always in this order.
		n = min(n, c.b.tokenlessSize)
		if err := c.b.tokenless.Acquire(ctx, n); err != nil {
			return err
		}
		if err := c.b.read.Acquire(ctx, n); err != nil {
			c.b.tokenless.Release(n)
			return err
		}
		c.read += n
		c.total = max(c.total, c.read+c.decode)
		return nil
	}
	if err := c.b.read.Acquire(ctx, n); err != nil {
		return err
	}
	c.read += n
	c.total = max(c.total, c.read+c.decode)
	return nil
}

// shrinkRead gives back what the read charge holds beyond n.
func (c *charge) shrinkRead(n int64) {
	if n < c.read {
		c.b.read.Release(c.read - n)
		if c.tokenless {
			c.b.tokenless.Release(c.read - n)
		}
		c.read = n
	}
}

// acquireDecode charges n bytes of decoding, waiting until they are free or
// ctx ends. The caller has checked that n fits the decode budget.
func (c *charge) acquireDecode(ctx context.Context, n int64) error {
	n = min(n, c.b.decodeSize)
	if err := c.b.decode.Acquire(ctx, n); err != nil {
		return err
	}
	c.decode += n
	c.total = max(c.total, c.read+c.decode)
	return nil
}

// release gives everything back; calling it again does nothing.
func (c *charge) release() {
	if c == nil || !c.started {
		return
	}
	c.started = false
	c.shrinkRead(0)
	if c.decode > 0 {
		c.b.decode.Release(c.decode)
		c.decode = 0
	}
	c.b.finished(c.total)
}

// finished notes the end of a request that held up to held bytes, and
// schedules onIdle when the budget goes idle after enough of them.
func (b *BodyBudget) finished(held int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.busy--
	b.charged += held
	if b.onIdle == nil || b.busy > 0 || b.pending || b.charged < idleReleaseThreshold {
		return
	}
	b.pending = true
	delay := max(idleDelay, b.lastIdle.Add(idleMinInterval).Sub(b.now()))
	b.after(delay, b.fire)
}

// fire runs onIdle unless a body arrived meanwhile; the request that holds
// it schedules the next attempt when it finishes.
func (b *BodyBudget) fire() {
	b.mu.Lock()
	b.pending = false
	if b.busy > 0 {
		b.mu.Unlock()
		return
	}
	b.charged = 0
	b.lastIdle = b.now()
	b.mu.Unlock()
	b.onIdle()
}
