package lease

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// restoreLoop rebuilds the queue from the expiry index, retrying with
// backoff while storage fails, and reports whether it finished (false when
// the run ended first).
func (m *Manager) restoreLoop(ctx context.Context) bool {
	defer m.q.endRestore()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		n, err := m.restore(ctx)
		if err == nil {
			m.restored.Store(true)
			m.logger.Info("lease expiry index restored", "leases", n, "took", time.Since(start).Round(time.Millisecond).String())
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := m.backoff(attempt)
		m.logger.Error("could not restore the lease expiry index; retrying", "error", err.Error(), "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// restore queues every lease of the expiry index, from one listing of key
// names: nothing is decrypted or decoded but the names. It returns how many
// leases the index holds.
func (m *Manager) restore(ctx context.Context) (int, error) {
	names, err := m.storage.List(ctx, expPrefix)
	if err != nil {
		return 0, err
	}
	m.q.reserve(len(names))
	bad := 0
	for _, name := range names {
		at, flag, id, err := parseIndexName(name)
		if err != nil {
			bad++
			continue
		}
		if m.q.restore(id, at) && flag == flagRetry {
			m.markFailing(id, true)
		}
	}
	if bad > 0 {
		m.logger.Error("the lease expiry index has names that do not decode; sys/leases/tidy removes them", "count", bad)
	}
	return len(names) - bad, nil
}

// expiryLoop revokes leases as they come due until ctx ends.
func (m *Manager) expiryLoop(ctx context.Context) {
	for {
		m.SweepDue(ctx)
		// While awake nobody needs to wake us; then publish when we plan
		// to look again and check once more for anything sooner queued in
		// between, so that no wake-up is lost.
		m.nextWake.Store(math.MinInt64)
		wait := m.sleepFor()
		m.nextWake.Store(m.now().Add(wait).UnixNano())
		if w := m.sleepFor(); w < wait {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// sleepFor is how long until the earliest queued lease is due.
func (m *Manager) sleepFor() time.Duration {
	at, ok := m.q.next()
	if !ok {
		return maxSleep
	}
	return min(max(time.Unix(0, at).Sub(m.now()), 0), maxSleep)
}

// SweepDue revokes, with up to Config.Workers at a time, every lease due by
// now (by Config.Now): expired, marked for revocation, or due for another
// attempt after a failure. A lease whose mount fails is kept and scheduled
// again with backoff. It returns how many leases it revoked and how many
// attempts failed. The expiry loop calls it; tests may call it directly.
func (m *Manager) SweepDue(ctx context.Context) (revoked, failed int) {
	now := m.now()
	var nRevoked, nFailed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, m.workers)
	for ctx.Err() == nil {
		it, ok := m.q.popDue(now.UnixNano())
		if !ok {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(id string, at int64) {
			defer func() { <-sem; wg.Done() }()
			ok, err := m.expire(ctx, id, at, now)
			switch {
			case ok:
				nRevoked.Add(1)
			case err != nil:
				nFailed.Add(1)
			}
		}(it.id, it.at)
	}
	wg.Wait()
	return int(nRevoked.Load()), int(nFailed.Load())
}

// expire revokes lease id if it is due at now. Whatever happens, the lease
// ends up either deleted or queued again: a lease renewed meanwhile at its
// new expiry, a failed one at its next attempt, one that storage could not
// read a little later.
func (m *Manager) expire(ctx context.Context, id string, at int64, now time.Time) (bool, error) {
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Error("could not read a lease that is due; retrying", "lease_id", id, "error", err.Error())
			m.q.set(id, now.Add(m.backoff(1)).UnixNano())
		}
		return false, err
	}
	if e == nil {
		// Revoked meanwhile, or an index key left without its lease (a
		// crash on storage without transactions): drop it for good.
		m.markFailing(id, false)
		for _, flag := range []byte{flagExpiry, flagRetry} {
			if err := m.storage.Delete(ctx, expPrefix+indexName(time.Unix(0, at), flag, id)); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	due := e.ExpireTime
	if e.Revocation != nil {
		due = e.Revocation.NextAttempt
	}
	if due.After(now) {
		m.q.set(id, due.UnixNano())
		return false, nil
	}
	err = m.revokeLocked(ctx, e, false)
	if err == nil {
		return true, nil
	}
	var me *mountError
	if errors.As(err, &me) {
		m.recordFailure(ctx, e, me.err, now)
	} else if ctx.Err() == nil {
		m.logger.Error("could not delete a revoked lease; retrying", "lease_id", id, "error", err.Error())
		m.q.set(id, now.Add(m.backoff(1)).UnixNano())
	}
	return false, err
}
