package bolt

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// Tuning of the write-ahead log. A var, not a const, for the tests.
var (
	// maxBehind is how many acknowledged transactions may wait for bbolt
	// before new groups wait: it bounds the memory of the overlay.
	maxBehind = 50_000
	// applyDelay is how long the background commit lets acknowledged
	// writes gather before it commits them to bbolt, unless someone waits
	// for bbolt (List, Close, a full log) or applyBatch of them are
	// waiting. No writer waits for it: the log has them already. A larger
	// commit pays bbolt's two fdatasyncs, its meta and freelist pages and
	// the branch pages it shares once for more writes, and writes each
	// rewritten page once: BenchmarkReplayKV measured 31 µs of CPU a
	// record for groups of 500 and 12 µs for groups of 5,000
	// (docs/BENCHMARKS-WRITES.md). The price is memory: the overlay holds
	// up to applyBatch writes' values, a few MiB under sustained writes.
	applyDelay = time.Second
	applyBatch = 16384
)

// logged puts a write-ahead log in front of bbolt (docs/BENCHMARKS-WRITES.md).
//
// A group of concurrent transactions is appended to the log with one
// fdatasync and acknowledged; its values are kept in memory (the overlay)
// until a background bbolt commit, with bbolt's own fsyncs, holds them.
// Get looks in the overlay first; List waits until bbolt holds every write
// acknowledged before it began. Once bbolt holds everything, the log can be
// truncated; at open, what it still holds is replayed into bbolt.
//
// So an acknowledged write is on disk twice over (log, then bbolt) before
// the log forgets it, and bbolt never runs without its fsyncs.
type logged struct {
	db  *bbolt.DB
	log *wal // used only by the group commit (one goroutine at a time)

	mu      sync.Mutex
	changed *sync.Cond // applied advanced, err set or behind shrank
	keys    map[string]overlayEntry
	behind  []walRecord // acknowledged, not yet in bbolt, in seq order
	applied uint64      // seq of the last record bbolt holds
	acked   uint64      // seq of the last record acknowledged
	groups  int         // groups between prepare and publication
	err     error       // a background commit failed: no more writes
	closed  bool
	// waiting counts callers waiting for bbolt to catch up (caughtUp,
	// makeRoom): the background commit then commits at once.
	waiting int
	wake    chan struct{}
	hurry   chan struct{} // ends the background commit's gathering
	done    chan struct{}
	// beforeApply, when set (under mu), runs before each background
	// commit: tests hold commits back with it to leave writes in the log
	// alone.
	beforeApply func()
	// afterApply, when set (under mu), runs once a background commit has
	// returned, before its records leave the overlay and so before the log
	// can be emptied of them: the crash tests take bbolt's durable state
	// there.
	afterApply func()
}

type overlayEntry struct {
	value []byte // nil for a delete
	seq   uint64
}

func newLogged(db *bbolt.DB, log *wal) *logged {
	l := &logged{db: db, log: log, keys: map[string]overlayEntry{}, applied: log.seq, acked: log.seq,
		wake: make(chan struct{}, 1), hurry: make(chan struct{}, 1), done: make(chan struct{})}
	l.changed = sync.NewCond(&l.mu)
	go l.applyLoop()
	return l
}

// get returns the overlay's value of key: found is false when bbolt holds
// the latest acknowledged value; value is nil for a deleted key.
func (l *logged) get(key string) (value []byte, found bool) {
	l.mu.Lock()
	e, ok := l.keys[key]
	l.mu.Unlock()
	if !ok || e.value == nil {
		return nil, ok
	}
	return bytes.Clone(e.value), true
}

// peek is get for a read that will not change the value: it shares the
// overlay's, and reports the seq bbolt has applied, read under the same
// lock (see BeginRead).
func (l *logged) peek(key string) (value []byte, found bool, applied uint64) {
	l.mu.Lock()
	e, ok := l.keys[key]
	applied = l.applied
	l.mu.Unlock()
	return e.value, ok, applied
}

// appliedSeq is the seq of the last record bbolt holds.
func (l *logged) appliedSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied
}

// caughtUp waits until bbolt holds every write acknowledged so far.
func (l *logged) caughtUp() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	target := l.acked
	if l.applied < target && l.err == nil {
		l.waiting++
		l.hasten()
		for l.applied < target && l.err == nil {
			l.changed.Wait()
		}
		l.waiting--
	}
	return l.err
}

// hasten makes the background commit stop gathering and commit what is
// waiting; l.mu is held.
func (l *logged) hasten() {
	select {
	case l.hurry <- struct{}{}:
	default:
	}
}

// commitGroup is the group commit's step: log the group, publish it to the
// overlay, hand it to the background commit, acknowledge.
func (l *logged) commitGroup(batch []*pending) {
	// Entering under l.mu before touching the log: Close empties and
	// closes the log only once no group is inside.
	l.mu.Lock()
	err := l.err
	if err == nil && l.closed {
		err = ErrClosed
	}
	entered := err == nil
	if entered {
		l.groups++
	}
	l.mu.Unlock()
	var first uint64
	if err == nil {
		first, err = l.logGroup(batch)
	}
	l.mu.Lock()
	if err == nil {
		l.publish(batch, first)
		// Under l.mu and before leaving, so that close, which waits for
		// groups to reach 0, never closes wake before this send.
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if entered {
		l.groups--
	}
	l.changed.Broadcast()
	l.mu.Unlock()
	for _, p := range batch {
		p.done <- err
	}
}

// logGroup appends batch to the log (after making room) and returns the
// seq of its first record.
func (l *logged) logGroup(batch []*pending) (uint64, error) {
	txns := make([][]physical.TxnOp, len(batch))
	for i, p := range batch {
		txns[i] = p.ops
	}
	buf := l.log.encode(txns)
	epoch := l.log.epoch
	if err := l.makeRoom(len(buf)); err != nil {
		return 0, err
	}
	if l.log.epoch != epoch {
		buf = l.log.encode(txns) // the log was emptied: a new epoch
	}
	first, err := l.log.append(buf, len(txns))
	if err != nil {
		l.fail(err)
	}
	return first, err
}

// publish makes an appended group visible to Get and hands it to the
// background commit; l.mu is held.
func (l *logged) publish(batch []*pending, first uint64) {
	for i, p := range batch {
		rec := walRecord{epoch: l.log.epoch, seq: first + uint64(i), ops: p.ops}
		for _, op := range p.ops {
			e := overlayEntry{seq: rec.seq}
			if !op.Delete {
				e.value = op.Entry.Value
				if e.value == nil {
					e.value = []byte{}
				}
			}
			l.keys[op.Entry.Key] = e
		}
		l.behind = append(l.behind, rec)
	}
	l.acked = l.log.seq
	if len(l.behind) >= applyBatch {
		l.hasten()
	}
}

// makeRoom waits while bbolt is too far behind, and empties the log when n
// more bytes would not fit, once bbolt holds all of it (a pause of one
// bbolt commit every few tens of thousands of writes).
func (l *logged) makeRoom(n int) error {
	full := !l.log.fits(n)
	l.mu.Lock()
	if l.err == nil && (len(l.behind) > maxBehind || (full && len(l.behind) > 0)) {
		l.waiting++
		l.hasten()
		for l.err == nil && (len(l.behind) > maxBehind || (full && len(l.behind) > 0)) {
			l.changed.Wait()
		}
		l.waiting--
	}
	err := l.err
	l.mu.Unlock()
	if err != nil || !full {
		return err
	}
	if err := l.log.reset(); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

func (l *logged) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = fmt.Errorf("file storage stopped accepting writes: %w", err)
	}
	l.changed.Broadcast()
	l.mu.Unlock()
}

// applyLoop commits acknowledged transactions to bbolt in the background,
// everything waiting in one commit, until close. Between commits it lets
// writes gather (gather).
func (l *logged) applyLoop() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for range l.wake {
		for l.gather(timer) {
			l.mu.Lock()
			recs, hold, after := l.behind, l.beforeApply, l.afterApply
			l.mu.Unlock()
			if hold != nil {
				hold()
			}
			if err := replay(l.db, recs); err != nil {
				// The writes are in the log: a restart replays them.
				l.fail(err)
				return
			}
			if after != nil {
				after()
			}
			l.dropApplied(recs)
		}
	}
}

// gather waits up to applyDelay for more writes to join the next bbolt
// commit, and reports whether any are waiting for it. It returns at once
// when someone waits for bbolt, when applyBatch are waiting or on close.
func (l *logged) gather(timer *time.Timer) bool {
	timer.Reset(applyDelay)
	defer timer.Stop()
	for {
		l.mu.Lock()
		n, now := len(l.behind), l.waiting > 0 || l.closed || len(l.behind) >= applyBatch
		l.mu.Unlock()
		if n == 0 || now {
			return n > 0
		}
		select {
		case <-l.hurry:
		case <-timer.C:
			return true
		}
	}
}

// dropApplied drops recs, which bbolt now holds, from the overlay.
func (l *logged) dropApplied(recs []walRecord) {
	last := recs[len(recs)-1].seq
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		for _, op := range r.ops {
			if e, ok := l.keys[op.Entry.Key]; ok && e.seq <= last {
				delete(l.keys, op.Entry.Key)
			}
		}
	}
	l.behind = l.behind[len(recs):]
	if len(l.behind) == 0 {
		l.behind = nil
	}
	l.applied = last
	l.changed.Broadcast()
}

// close waits for bbolt to hold every acknowledged write, stops the
// background commit and empties the log.
func (l *logged) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.hasten()
	l.changed.Broadcast()
	for (l.groups > 0 || len(l.behind) > 0) && l.err == nil {
		l.changed.Wait()
	}
	for l.groups > 0 {
		l.changed.Wait()
	}
	err := l.err
	l.mu.Unlock()
	close(l.wake)
	<-l.done
	if err == nil {
		err = l.log.reset()
	}
	if cerr := l.log.close(); err == nil {
		err = cerr
	}
	return err
}
