package bolt

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// committer group-commits concurrent transactions without a timer. A
// transaction that finds no commit running commits at once, alone; those
// that arrive while a commit (and its fsyncs) runs queue up and share the
// next one, started the moment the running one ends. So a lone writer
// never waits for company, and under load a commit carries everyone who
// arrived during the previous one.
//
// bbolt's own Batch waits a fixed delay instead: with fsyncs slower than
// the delay, batches close every delay and then queue on the writer lock,
// each paying its own fsyncs (docs/BENCHMARKS.md, issue 9).
//
// A transaction is acknowledged only after the commit that holds it has
// returned from bbolt's Commit, which fsyncs the file.
type committer struct {
	db       *bbolt.DB
	maxBatch int
	// step, when set, replaces the bbolt commit of a group (the
	// write-ahead log's, logged.go).
	step func([]*pending)

	mu      sync.Mutex
	queue   []*pending
	running bool
}

type pending struct {
	ops  []physical.TxnOp
	done chan error
}

// failedTxn marks which transaction of a shared commit failed to apply.
type failedTxn struct {
	p   *pending
	err error
}

func (f *failedTxn) Error() string { return f.err.Error() }

// commit applies ops in a commit shared with concurrent callers and
// returns once that commit is durable, or failed.
func (c *committer) commit(ops []physical.TxnOp) error {
	p := &pending{ops: ops, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.running {
		c.mu.Unlock()
		return <-p.done
	}
	// No commit is running: this caller commits what is queued (itself,
	// and whoever slipped in) at once, then hands the rest to a goroutine
	// so that its own answer does not wait for later commits.
	c.running = true
	c.mu.Unlock()
	batch := c.gather()
	c.runBatch(batch)
	c.mu.Lock()
	if len(c.queue) > 0 {
		go c.loop()
	} else {
		c.running = false
	}
	c.mu.Unlock()
	return <-p.done
}

// take removes up to maxBatch transactions (all of them when maxBatch is
// not positive, as bbolt reads MaxBatchSize) from the queue; c.mu is held.
func (c *committer) take() []*pending {
	n := len(c.queue)
	if c.maxBatch > 0 {
		n = min(n, c.maxBatch)
	}
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return batch
}

// gather yields the processor once before it takes the queue: writers
// already runnable (on their way here, behind this goroutine in the run
// queue) join this commit instead of the next, so a group is not cut
// short by who got a CPU first. With nobody runnable it costs nothing.
func (c *committer) gather() []*pending {
	runtime.Gosched()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.take()
}

// loop commits queued transactions until none is left.
func (c *committer) loop() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.runBatch(c.gather())
	}
}

func (c *committer) runBatch(batch []*pending) {
	if c.step != nil {
		c.step(batch)
		return
	}
	c.run(batch)
}

// run commits batch in one bbolt transaction. When one transaction fails
// to apply, the commit is rolled back and each is rerun alone, as bbolt's
// Batch does, so a failing transaction never takes another's writes down.
func (c *committer) run(batch []*pending) {
	err := c.db.Update(func(tx *bbolt.Tx) error {
		bkt := tx.Bucket(bucketName)
		for _, p := range batch {
			if err := apply(bkt, p.ops); err != nil {
				return &failedTxn{p: p, err: err}
			}
		}
		return nil
	})
	var f *failedTxn
	if err == nil || len(batch) == 1 || !errors.As(err, &f) {
		// Committed, or the commit itself failed: nothing of it is on
		// disk, and every transaction in it gets that answer.
		if errors.As(err, &f) {
			err = f.err
		}
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	for _, p := range batch {
		p.done <- c.db.Update(func(tx *bbolt.Tx) error { return apply(tx.Bucket(bucketName), p.ops) })
	}
}

func apply(bkt *bbolt.Bucket, ops []physical.TxnOp) error {
	for _, op := range ops {
		var err error
		if op.Delete {
			err = bkt.Delete([]byte(op.Entry.Key))
		} else {
			err = bkt.Put([]byte(op.Entry.Key), op.Entry.Value)
		}
		if err != nil {
			return fmt.Errorf("write %q: %w", op.Entry.Key, err)
		}
	}
	return nil
}
