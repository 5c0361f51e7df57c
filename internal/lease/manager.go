package lease

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Defaults for Config's zero values.
const (
	DefaultMaxTTL    = 768 * time.Hour
	DefaultRetryBase = 10 * time.Second
	DefaultRetryMax  = time.Hour
	DefaultWorkers   = 8
)

// maxSleep bounds how long the expiry loop sleeps, so that a clock that
// jumps is noticed without a timer per lease.
const maxSleep = 30 * time.Second

// lockStripes is how many mutexes serialise work on leases; a lease ID
// picks its stripe.
const lockStripes = 256

// MountInfo is what the manager needs to know about the mount a lease
// belongs to.
type MountInfo struct {
	// Accessor identifies the mount in the list of failing leases.
	Accessor string
	// DefaultTTL and MaxTTL are the mount's effective default_lease_ttl
	// and max_lease_ttl.
	DefaultTTL, MaxTTL time.Duration
}

// Mounts is what the manager needs from the server's mount table; the core
// implements it. Both methods are called concurrently.
type Mounts interface {
	// HandleLeaseRequest sends req, a logical.RenewOperation or
	// logical.RevokeOperation request whose Path is absolute (such as
	// "database/creds/app"), to the mount serving that path, with the path
	// made relative to the mount and the mount's storage. It returns an
	// error wrapping ErrNoMount when no mount serves the path.
	HandleLeaseRequest(ctx context.Context, req *logical.Request) (*logical.Response, error)
	// Mount describes the mount serving the absolute path; ok is false
	// when none does.
	Mount(path string) (info MountInfo, ok bool)
}

// Config is what New needs.
type Config struct {
	// Storage is the manager's own view inside the barrier; the manager
	// owns every key in it.
	Storage logical.Storage
	Mounts  Mounts
	// MaxTTL is the server-wide max_lease_ttl, which caps every lease
	// whatever its mount says; zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// TokenExists reports whether a token hash still names a token; Tidy
	// revokes the leases of tokens that are gone. Nil makes Tidy skip that
	// check.
	TokenExists func(ctx context.Context, hash string) (bool, error)
	// Logger receives what the manager does; never a secret or
	// InternalData. Nil discards.
	Logger *slog.Logger
	// Now is the clock, replaceable in tests; nil means time.Now.
	Now func() time.Time
	// RetryBase and RetryMax shape the backoff between attempts of a
	// revocation that fails: the n-th retry comes after a random time
	// between half and all of RetryBase·2^(n-1), at most RetryMax. Zero
	// means DefaultRetryBase and DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// Workers is how many revocations run at once; zero means
	// DefaultWorkers.
	Workers int
	// Jitter returns a number in [0, 1) for the backoff; nil means
	// math/rand/v2.
	Jitter func() float64
}

// Manager keeps the leases. All methods are safe for concurrent use.
//
// Registering, looking up, renewing and revoking work on storage at any
// time. Expiry needs the manager running: Start rebuilds the expiry queue
// from storage in the background and then revokes leases as they come due;
// Stop ends that and drops the queue. The core starts it on unseal and
// stops it on seal; a standby (later, a raft follower) leaves it stopped.
type Manager struct {
	storage logical.Storage
	mounts  Mounts
	maxTTL  time.Duration
	exists  func(ctx context.Context, hash string) (bool, error)
	logger  *slog.Logger
	now     func() time.Time
	base    time.Duration
	cap     time.Duration
	workers int
	jitter  func() float64

	q     *queue
	locks [lockStripes]sync.Mutex

	failMu  sync.Mutex
	failing map[string]struct{}

	wake     chan struct{}
	nextWake atomic.Int64

	runMu    sync.Mutex
	run      *run
	restored atomic.Bool
}

// run is one Start…Stop period.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tidy   atomic.Bool
}

// New returns a stopped Manager over conf.Storage.
func New(conf Config) *Manager {
	m := &Manager{
		storage: conf.Storage, mounts: conf.Mounts, maxTTL: conf.MaxTTL, exists: conf.TokenExists,
		logger: conf.Logger, now: conf.Now, base: conf.RetryBase, cap: conf.RetryMax,
		workers: conf.Workers, jitter: conf.Jitter,
		q: newQueue(), failing: map[string]struct{}{}, wake: make(chan struct{}, 1),
	}
	if m.maxTTL <= 0 {
		m.maxTTL = DefaultMaxTTL
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.base <= 0 {
		m.base = DefaultRetryBase
	}
	if m.cap <= 0 {
		m.cap = DefaultRetryMax
	}
	if m.cap < m.base {
		m.cap = m.base
	}
	if m.workers <= 0 {
		m.workers = DefaultWorkers
	}
	if m.jitter == nil {
		m.jitter = rand.Float64
	}
	return m
}

// Start begins expiry in the background: the expiry queue is rebuilt from
// the stored index while requests are served (registrations, renewals and
// revocations meanwhile are never undone by it), then leases are revoked
// as they come due. Starting a running manager does nothing. ctx bounds
// the whole run, like Stop.
func (m *Manager) Start(ctx context.Context) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.run != nil {
		return
	}
	r := &run{}
	r.ctx, r.cancel = context.WithCancel(ctx)
	m.restored.Store(false)
	m.q.beginRestore()
	m.run = r
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if !m.restoreLoop(r.ctx) {
			return
		}
		m.expiryLoop(r.ctx)
	}()
}

// Stop ends expiry and any background tidy, waits for revocations in
// flight, and drops the in-memory queue. Stopping a stopped manager does
// nothing. The manager may be started again.
func (m *Manager) Stop() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.run == nil {
		return
	}
	m.run.cancel()
	m.run.wg.Wait()
	m.run = nil
	m.restored.Store(false)
	m.q.reset()
	m.failMu.Lock()
	m.failing = map[string]struct{}{}
	m.failMu.Unlock()
}

// Running reports whether the manager is started; Restored whether its
// queue holds every stored lease, so that expiry is running.
func (m *Manager) Running() bool {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	return m.run != nil
}

// Restored reports whether the expiry queue has been rebuilt since Start.
func (m *Manager) Restored() bool { return m.restored.Load() }

// Count returns how many leases the expiry queue holds: every outstanding
// lease once Restored.
func (m *Manager) Count() int { return m.q.len() }

// lockFor returns the mutex that serialises work on lease id.
func (m *Manager) lockFor(id string) *sync.Mutex { return &m.locks[stripe(id)] }

func stripe(id string) uint32 {
	f := fnv.New32a()
	f.Write([]byte(id))
	return f.Sum32() % lockStripes
}

// load reads a lease, or nil when there is none.
func (m *Manager) load(ctx context.Context, id string) (*entry, error) {
	se, err := m.storage.Get(ctx, idPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("read lease %q: %w", id, err)
	}
	if se == nil {
		return nil, nil
	}
	e, err := decodeEntry(se.Value)
	if err != nil {
		return nil, fmt.Errorf("read lease %q: %w", id, err)
	}
	return e, nil
}

// save writes e and moves its index key from oldIndex (if different) in
// one transaction, together with extra.
func (m *Manager) save(ctx context.Context, e *entry, oldIndex string, extra ...logical.TxnOp) error {
	put, err := logical.JSONEntry(idPrefix+e.ID, e)
	if err != nil {
		return err
	}
	ops := append([]logical.TxnOp{{Entry: put}}, extra...)
	if oldIndex != e.Index {
		if oldIndex != "" {
			ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: expPrefix + oldIndex}})
		}
		ops = append(ops, logical.TxnOp{Entry: &logical.StorageEntry{Key: expPrefix + e.Index}})
	}
	if err := logical.ApplyTxn(ctx, m.storage, ops); err != nil {
		return fmt.Errorf("write lease %q: %w", e.ID, err)
	}
	return nil
}

// track queues id at at and wakes the expiry loop if that is sooner than
// it planned to look.
func (m *Manager) track(id string, at time.Time) {
	n := at.UnixNano()
	m.q.set(id, n)
	if n < m.nextWake.Load() {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) markFailing(id string, failing bool) {
	m.failMu.Lock()
	defer m.failMu.Unlock()
	if failing {
		m.failing[id] = struct{}{}
	} else {
		delete(m.failing, id)
	}
}

// mountMax is the longest a lease at path may live: its mount's
// max_lease_ttl within the server's.
func (m *Manager) mountMax(mi MountInfo) time.Duration {
	if mi.MaxTTL > 0 && mi.MaxTTL < m.maxTTL {
		return mi.MaxTTL
	}
	return m.maxTTL
}
