package token

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// zeroTime queues a token for immediate revocation.
var zeroTime time.Time

// maxSweepWait bounds how long Run sleeps, so that a clock that jumps (or a
// test clock) is noticed without a timer for every token.
const maxSweepWait = 30 * time.Second

// retryDelay spaces out retries of a revocation that failed, so that a
// storage outage does not become a busy loop.
const retryDelay = 5 * time.Second

type expiryItem struct {
	at   time.Time
	hash string
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// expiryQueue is a min-heap of expiry times. A token re-tracked after a
// renewal leaves its older item in the heap; latest says which item is
// current, and stale ones are dropped when they reach the top.
type expiryQueue struct {
	mu     sync.Mutex
	h      expiryHeap
	latest map[string]time.Time
}

func newExpiryQueue() *expiryQueue { return &expiryQueue{latest: map[string]time.Time{}} }

// track sets when hash is due for revocation.
func (q *expiryQueue) track(hash string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.latest[hash] = at
	heap.Push(&q.h, expiryItem{at: at, hash: hash})
}

// trackIfAbsent is track unless hash is queued already.
func (q *expiryQueue) trackIfAbsent(hash string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.latest[hash]; ok {
		return
	}
	q.latest[hash] = at
	heap.Push(&q.h, expiryItem{at: at, hash: hash})
}

// untrack forgets hash; its heap items become stale.
func (q *expiryQueue) untrack(hash string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.latest, hash)
}

// popDue removes and returns one token due at or before now, or "" when
// none is.
func (q *expiryQueue) popDue(now time.Time) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.h.Len() > 0 {
		top := q.h[0]
		if at, ok := q.latest[top.hash]; !ok || !at.Equal(top.at) {
			heap.Pop(&q.h)
			continue
		}
		if top.at.After(now) {
			return ""
		}
		heap.Pop(&q.h)
		delete(q.latest, top.hash)
		return top.hash
	}
	return ""
}

// next returns the earliest current expiry, or false when none is queued.
func (q *expiryQueue) next() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.h.Len() > 0 {
		top := q.h[0]
		if at, ok := q.latest[top.hash]; ok && at.Equal(top.at) {
			return top.at, true
		}
		heap.Pop(&q.h)
	}
	return time.Time{}, false
}

// poke asks Run to sweep now; it never blocks.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SweepExpired revokes, with their children, every token whose expiry has
// passed by Config.Now and every token whose revocation was interrupted. It
// returns how many tokens it revoked directly and the first error; a token
// that failed is queued again. Run calls it; tests may call it directly.
// The first call on a store queues the stored tokens' expiries first
// (restoreExpiries), so with Start that reading happens in the background.
func (s *Store) SweepExpired(ctx context.Context) (int, error) {
	if err := s.restoreExpiries(ctx); err != nil {
		return 0, err
	}
	n := 0
	now := s.now()
	var retry []string
	var firstErr error
	for ctx.Err() == nil {
		hash := s.popDue(now)
		if hash == "" {
			break
		}
		due := func(e *Entry) bool { return e.Revoking || e.expired(now) }
		if err := s.revoke(ctx, hash, due, true); err != nil {
			retry = append(retry, hash)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		n++
	}
	for _, h := range retry {
		s.exp.track(h, now.Add(retryDelay))
	}
	return n, firstErr
}

func (s *Store) popDue(now time.Time) string { return s.exp.popDue(now) }

// Start runs the expiry sweeper in a goroutine of its own until ctx is
// done or Stop is called. Call it once, after New. Unlike "go s.Run(ctx)",
// it registers the goroutine before returning, so a Stop that follows at
// once always waits for it.
func (s *Store) Start(ctx context.Context) {
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.sweepLoop(ctx)
	}()
}

// Run is Start's loop for callers that manage the goroutine themselves; it
// returns when ctx is done or Stop is called.
func (s *Store) Run(ctx context.Context) {
	s.running.Add(1)
	defer s.running.Done()
	s.sweepLoop(ctx)
}

func (s *Store) sweepLoop(ctx context.Context) {
	for {
		if _, err := s.SweepExpired(ctx); err != nil {
			s.logger.Error("revoke expired tokens", "error", err.Error())
		}
		wait := maxSweepWait
		if at, ok := s.exp.next(); ok {
			wait = min(max(at.Sub(s.now()), 0), maxSweepWait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.stop:
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Stop ends Run and any background Tidy, waits for them to return and
// drops cached entries, for sealing. The store must not be used after Stop.
func (s *Store) Stop() {
	s.bgMu.Lock()
	s.stopped = true
	s.bgMu.Unlock()
	s.stopOnce.Do(func() {
		close(s.stop)
		s.endLife()
	})
	s.running.Wait()
	s.cache.clear()
}

// goBackground registers one background goroutine with Stop, unless Stop
// has begun; the caller must call s.running.Done when it ends.
func (s *Store) goBackground() bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.stopped {
		return false
	}
	s.running.Add(1)
	return true
}
