package lockout

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Bounds of the in-memory state. They keep a flood of random names from
// growing memory without limit: past MaxCounters the least recently failed
// counter is forgotten, and past MaxLocks the oldest lock leaves memory
// (its persisted record still holds, read back on demand). An alias longer
// than MaxAliasLen is tracked by its SHA-256.
const (
	MaxCounters = 1 << 15
	MaxLocks    = 1 << 15
	MaxAliasLen = 256
)

// Key names one alias on one auth mount.
type Key struct {
	// Accessor is the auth mount's accessor.
	Accessor string
	// Alias is what the login attempts (a user name, a role ID), as the
	// auth method normalises it.
	Alias string
}

// bounded returns k with an overlong alias replaced by its digest, so that
// memory and storage keys stay small.
func (k Key) bounded() Key {
	if len(k.Alias) > MaxAliasLen {
		sum := sha256.Sum256([]byte(k.Alias))
		k.Alias = "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// entry is the state of one key. It sits in counters while it has failures
// and is not locked, in locks while locked, and in neither while it only
// has attempts in flight.
type entry struct {
	key      Key
	failures uint64
	last     time.Time // last failure
	lockedAt time.Time // zero unless locked
	inflight uint64
	// wake is closed (and replaced) whenever an attempt in flight ends.
	wake chan struct{}
	elem *list.Element
	list *list.List
}

// record is the persisted form of a lock.
type record struct {
	LockedAt time.Time `json:"locked_at"`
}

// Options tune a Tracker; the zero value gives the package bounds and the
// real clock.
type Options struct {
	Now         func() time.Time
	Logger      *slog.Logger
	MaxCounters int
	MaxLocks    int
}

// Tracker counts failed logins and holds locks. Counters live in memory
// only; locks are persisted in the storage given to NewTracker (one entry
// per lock, written when it is taken and deleted when it ends), so a lock
// survives a restart or a seal once Load has run. All methods are safe for
// concurrent use.
type Tracker struct {
	storage     logical.Storage
	now         func() time.Time
	logger      *slog.Logger
	maxCounters int
	maxLocks    int

	mu       sync.Mutex
	entries  map[Key]*entry
	counters *list.List // least recently failed first
	locks    *list.List // oldest lock first
	// spilled is set once a lock left memory: from then on a key that is
	// not in memory is looked up in storage.
	spilled bool

	// persistMu orders storage writes as the memory changes they follow:
	// it is taken before mu is released, and held across the I/O.
	persistMu sync.Mutex
}

// NewTracker returns an empty Tracker persisting locks in storage (a view
// of its own). Call Load before use to read the locks already taken.
func NewTracker(storage logical.Storage, o Options) *Tracker {
	t := &Tracker{
		storage: storage, now: o.Now, logger: o.Logger, maxCounters: o.MaxCounters, maxLocks: o.MaxLocks,
		entries: map[Key]*entry{}, counters: list.New(), locks: list.New(),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	if t.maxCounters <= 0 {
		t.maxCounters = MaxCounters
	}
	if t.maxLocks <= 0 {
		t.maxLocks = MaxLocks
	}
	return t
}

// storageKey is "<accessor>/<base64url alias>": an alias may hold any
// character, a storage key must not hold "/" in the alias part.
func storageKey(k Key) string {
	return k.Accessor + "/" + base64.RawURLEncoding.EncodeToString([]byte(k.Alias))
}

// Load reads every persisted lock into memory. Expired locks are dropped
// later, once the mount's configuration says they are.
func (t *Tracker) Load(ctx context.Context) error {
	accessors, err := t.storage.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list locked users: %w", err)
	}
	for _, a := range accessors {
		names, err := t.storage.List(ctx, a)
		if err != nil {
			return fmt.Errorf("list locked users of %s: %w", a, err)
		}
		for _, n := range names {
			alias, err := base64.RawURLEncoding.DecodeString(n)
			if err != nil {
				continue // not ours
			}
			var r record
			if _, err := logical.GetJSON(ctx, t.storage, a+n, &r); err != nil {
				return err
			}
			t.mu.Lock()
			t.lockLocked(t.entryLocked(Key{Accessor: strings.TrimSuffix(a, "/"), Alias: string(alias)}), r.LockedAt)
			t.mu.Unlock()
		}
	}
	return nil
}

// entryLocked returns the entry of k, creating it. The caller holds mu.
func (t *Tracker) entryLocked(k Key) *entry {
	e := t.entries[k]
	if e == nil {
		e = &entry{key: k, wake: make(chan struct{})}
		t.entries[k] = e
	}
	return e
}

// place moves e to the back of l (or out of any list when l is nil) and
// evicts from l what exceeds max.
func (t *Tracker) place(e *entry, l *list.List) {
	if e.list != nil && e.list != l {
		e.list.Remove(e.elem)
		e.list, e.elem = nil, nil
	}
	if l == nil {
		return
	}
	if e.list == l {
		l.MoveToBack(e.elem)
	} else {
		e.list, e.elem = l, l.PushBack(e)
	}
	max := t.maxCounters
	if l == t.locks {
		max = t.maxLocks
	}
	for el := l.Front(); l.Len() > max && el != nil; {
		next := el.Next()
		if v := el.Value.(*entry); v.inflight == 0 && v != e {
			l.Remove(el)
			delete(t.entries, v.key)
			if l == t.locks {
				t.spilled = true
			}
		}
		el = next
	}
}

// lockLocked marks e locked since at. The caller holds mu.
func (t *Tracker) lockLocked(e *entry, at time.Time) {
	e.lockedAt, e.failures = at, 0
	t.place(e, t.locks)
}

// forgetLocked drops e when nothing refers to it any more.
func (t *Tracker) forgetLocked(e *entry) {
	if e.failures == 0 && e.lockedAt.IsZero() && e.inflight == 0 {
		t.place(e, nil)
		delete(t.entries, e.key)
	}
}

// Acquire starts a login attempt for k under cfg. It returns ErrLocked when
// k is locked. Otherwise it returns once the attempt may run: at most
// cfg.Threshold minus the current failures may be in flight at once, so
// that a burst of parallel guesses cannot outrun the count; others wait for
// one of those to end (or for ctx). Every nil return must be followed by
// exactly one Release.
func (t *Tracker) Acquire(ctx context.Context, k Key, cfg Config) error {
	k = k.bounded()
	for {
		t.mu.Lock()
		e := t.entries[k]
		if e == nil && t.spilled {
			t.mu.Unlock()
			if err := t.loadOne(ctx, k); err != nil {
				return err
			}
			t.mu.Lock()
			e = t.entries[k]
		}
		if e == nil {
			e = t.entryLocked(k)
		}
		now := t.now()
		if !e.lockedAt.IsZero() {
			if now.Before(e.lockedAt.Add(cfg.Duration)) {
				t.mu.Unlock()
				return ErrLocked
			}
			// The lock has run its course.
			e.lockedAt = time.Time{}
			t.place(e, nil)
			t.persistMu.Lock()
			t.mu.Unlock()
			t.deleteRecord(ctx, k)
			t.persistMu.Unlock()
			continue
		}
		if e.failures > 0 && !now.Before(e.last.Add(cfg.CounterReset)) {
			e.failures = 0
			t.place(e, nil)
		}
		if e.failures > 0 && e.failures >= cfg.Threshold {
			// The threshold was lowered below the count: locked since the
			// last failure, as if the new threshold had always held.
			at := e.last
			t.lockLocked(e, at)
			t.persistMu.Lock()
			t.mu.Unlock()
			t.putRecord(ctx, k, at)
			t.persistMu.Unlock()
			continue
		}
		if e.failures+e.inflight < cfg.Threshold {
			e.inflight++
			t.mu.Unlock()
			return nil
		}
		wake := e.wake
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			t.mu.Lock()
			if e.inflight == 0 {
				t.forgetLocked(e)
			}
			t.mu.Unlock()
			return ctx.Err()
		}
	}
}

// loadOne reads the persisted lock of k into memory, if there is one.
func (t *Tracker) loadOne(ctx context.Context, k Key) error {
	var r record
	found, err := logical.GetJSON(ctx, t.storage, storageKey(k), &r)
	if err != nil || !found {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries[k] == nil {
		t.lockLocked(t.entryLocked(k), r.LockedAt)
	}
	return nil
}

// Outcome is how a login attempt ended.
type Outcome int

// The outcomes: a failure counts towards the threshold, a success clears
// the count, anything else (a malformed request, an internal error) leaves
// it alone.
const (
	Neutral Outcome = iota
	Failed
	Succeeded
)

// Release ends an attempt Acquire let through. A failure that reaches
// cfg.Threshold locks k and persists the lock; if that write fails the lock
// still holds in memory and the error is logged, never returned, so the
// caller answers exactly as for any other failure. from is the client's
// address, for the log of a new lock only.
func (t *Tracker) Release(ctx context.Context, k Key, cfg Config, o Outcome, from string) {
	k = k.bounded()
	t.mu.Lock()
	e := t.entries[k]
	if e == nil { // cannot happen while an attempt is in flight
		t.mu.Unlock()
		return
	}
	e.inflight--
	close(e.wake)
	e.wake = make(chan struct{})
	switch o {
	case Succeeded:
		if e.lockedAt.IsZero() {
			e.failures = 0
			t.place(e, nil)
		}
	case Failed:
		if !e.lockedAt.IsZero() {
			break // an operator's tune or a parallel attempt locked it already
		}
		now := t.now()
		e.failures++
		e.last = now
		if e.failures >= cfg.Threshold {
			t.lockLocked(e, now)
			t.persistMu.Lock()
			t.mu.Unlock()
			t.putRecord(ctx, k, now)
			t.persistMu.Unlock()
			t.logger.Warn("user locked out after failed logins", "mount_accessor", k.Accessor, "alias", k.Alias,
				"failures", cfg.Threshold, "remote_addr", from)
			return
		}
		t.place(e, t.counters)
	}
	t.forgetLocked(e)
	t.mu.Unlock()
}

func (t *Tracker) putRecord(ctx context.Context, k Key, at time.Time) {
	b, _ := json.Marshal(record{LockedAt: at.UTC()})
	if err := t.storage.Put(context.WithoutCancel(ctx), &logical.StorageEntry{Key: storageKey(k), Value: b}); err != nil {
		t.logger.Error("persist user lock; it holds until the server restarts", "mount_accessor", k.Accessor, "error", err.Error())
	}
}

func (t *Tracker) deleteRecord(ctx context.Context, k Key) {
	if err := t.storage.Delete(context.WithoutCancel(ctx), storageKey(k)); err != nil {
		t.logger.Error("delete expired user lock", "mount_accessor", k.Accessor, "error", err.Error())
	}
}

// Unlock ends the lock of k, if any, and clears its failures, in memory and
// in storage. Unlocking a key that is not locked is not an error.
func (t *Tracker) Unlock(ctx context.Context, k Key) error {
	k = k.bounded()
	t.mu.Lock()
	if e := t.entries[k]; e != nil {
		e.lockedAt, e.failures = time.Time{}, 0
		t.place(e, nil)
		t.forgetLocked(e)
	}
	t.persistMu.Lock()
	t.mu.Unlock()
	defer t.persistMu.Unlock()
	if err := t.storage.Delete(ctx, storageKey(k)); err != nil {
		return fmt.Errorf("delete user lock: %w", err)
	}
	return nil
}

// Locked returns the aliases locked on each mount, read from storage (the
// authoritative list, whatever memory holds), restricted to accessor when
// it is not empty. configFor gives the configuration in force on a mount,
// found=false when the mount is gone; locks that have expired or whose
// mount is gone are left out and deleted.
func (t *Tracker) Locked(ctx context.Context, accessor string, configFor func(accessor string) (Config, bool)) (map[string][]string, error) {
	accessors := []string{accessor + "/"}
	if accessor == "" {
		var err error
		if accessors, err = t.storage.List(ctx, ""); err != nil {
			return nil, fmt.Errorf("list locked users: %w", err)
		}
	}
	out := map[string][]string{}
	now := t.now()
	for _, a := range accessors {
		acc := strings.TrimSuffix(a, "/")
		names, err := t.storage.List(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("list locked users of %s: %w", acc, err)
		}
		cfg, mounted := configFor(acc)
		for _, n := range names {
			alias, err := base64.RawURLEncoding.DecodeString(n)
			if err != nil {
				continue
			}
			var r record
			if _, err := logical.GetJSON(ctx, t.storage, a+n, &r); err != nil {
				return nil, err
			}
			k := Key{Accessor: acc, Alias: string(alias)}
			if !mounted || !now.Before(r.LockedAt.Add(cfg.Duration)) {
				if err := t.Unlock(ctx, k); err != nil {
					return nil, err
				}
				continue
			}
			out[acc] = append(out[acc], k.Alias)
		}
	}
	return out, nil
}
