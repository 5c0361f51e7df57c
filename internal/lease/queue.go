package lease

import "sync"

// qitem is one lease in the expiry queue: when the manager must next act on
// it (its expiry, or the next attempt of a failed revocation), in Unix
// nanoseconds, and its ID. Nothing else about a lease is held in memory.
type qitem struct {
	at int64
	id string
}

// queue is a min-heap of qitems with an index by ID, so that a renewal
// moves a lease instead of leaving a stale item behind. Safe for concurrent
// use.
//
// While a restore runs (beginRestore … endRestore), set and drop remember
// the IDs they touch, and restore skips those: a lease registered, renewed
// or revoked while the index was being read is never overwritten by the
// older state the listing saw.
type queue struct {
	mu        sync.Mutex
	items     []qitem
	pos       map[string]int32
	restoring bool
	touched   map[string]struct{}
}

func newQueue() *queue { return &queue{pos: map[string]int32{}} }

// set queues id at at, moving it if it is queued already.
func (q *queue) set(id string, at int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.touch(id)
	q.setLocked(id, at)
}

func (q *queue) setLocked(id string, at int64) {
	if i, ok := q.pos[id]; ok {
		old := q.items[i].at
		q.items[i].at = at
		if at < old {
			q.up(int(i))
		} else {
			q.down(int(i))
		}
		return
	}
	q.items = append(q.items, qitem{at: at, id: id})
	q.pos[id] = int32(len(q.items) - 1)
	q.up(len(q.items) - 1)
}

// drop forgets id; dropping an ID not queued does nothing.
func (q *queue) drop(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.touch(id)
	q.dropLocked(id)
}

func (q *queue) dropLocked(id string) {
	i, ok := q.pos[id]
	if !ok {
		return
	}
	q.removeAt(int(i))
}

// restore queues id at at unless something set or dropped it since the
// restore began, and reports whether it did.
func (q *queue) restore(id string, at int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.touched[id]; ok {
		return false
	}
	if _, ok := q.pos[id]; ok {
		return false
	}
	q.setLocked(id, at)
	return true
}

func (q *queue) touch(id string) {
	if q.restoring {
		q.touched[id] = struct{}{}
	}
}

// reserve makes room for n more items, so that a restore does not grow
// the heap and the index step by step.
func (q *queue) reserve(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 && cap(q.items) < n {
		q.items = make([]qitem, 0, n)
		q.pos = make(map[string]int32, n)
	}
}

// beginRestore empties the queue and starts remembering touched IDs;
// endRestore stops and forgets them.
func (q *queue) beginRestore() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resetLocked()
	q.restoring, q.touched = true, map[string]struct{}{}
}

func (q *queue) endRestore() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.restoring, q.touched = false, nil
}

// reset empties the queue and releases its memory.
func (q *queue) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resetLocked()
	q.restoring, q.touched = false, nil
}

func (q *queue) resetLocked() {
	q.items, q.pos = nil, map[string]int32{}
}

// popDue removes and returns the earliest item due at or before now.
func (q *queue) popDue(now int64) (qitem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 || q.items[0].at > now {
		return qitem{}, false
	}
	it := q.items[0]
	q.removeAt(0)
	return it, true
}

// next returns the earliest time queued.
func (q *queue) next() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].at, true
}

// at returns when id is queued.
func (q *queue) at(id string) (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	i, ok := q.pos[id]
	if !ok {
		return 0, false
	}
	return q.items[i].at, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *queue) removeAt(i int) {
	last := len(q.items) - 1
	delete(q.pos, q.items[i].id)
	if i != last {
		q.items[i] = q.items[last]
		q.pos[q.items[i].id] = int32(i)
	}
	q.items[last] = qitem{}
	q.items = q.items[:last]
	if i < len(q.items) {
		q.down(i)
		q.up(i)
	}
	if cap(q.items) > 1024 && len(q.items) < cap(q.items)/4 {
		// Give memory back after a mass expiry.
		q.items = append([]qitem(nil), q.items...)
	}
}

func (q *queue) swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.pos[q.items[i].id] = int32(i)
	q.pos[q.items[j].id] = int32(j)
}

func (q *queue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if q.items[p].at <= q.items[i].at {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *queue) down(i int) {
	n := len(q.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && q.items[r].at < q.items[l].at {
			c = r
		}
		if q.items[i].at <= q.items[c].at {
			return
		}
		q.swap(i, c)
		i = c
	}
}
