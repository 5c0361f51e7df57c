// Package raft is integrated storage: a physical.Backend replicated by
// hashicorp/raft, so that several Coffer nodes hold the same data and one of
// them can take over when another dies.
//
// It sits below the barrier: every log entry is one physical command (a put,
// a delete, or a whole transaction as one entry), so the raft log, the
// snapshots and both bbolt files hold only barrier ciphertext. Writes go
// through raft.Apply on the leader and return once the entry is committed
// and applied to this node's state machine (durable on a quorum); reads are
// served from the local state machine. On a node that is not the leader,
// writes fail at once with ErrNotLeader (forwarding comes later).
//
// On disk, under Config.Path: fsm/coffer.db (the state machine, bbolt with
// the file storage's settings), raft/raft.db (raft-boltdb: the log and raft's
// stable store), raft/snapshots/ (raft's file snapshot store) and node-id.
//
// It is not the cluster's network layer: the transport (mutual TLS on the
// cluster port), joining and the sys/storage/raft endpoints are built on top.
package raft

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// Defaults of Config, Vault's except the timing (Vault's multiplier 5 makes
// failover take about 8 s).
const (
	// DefaultHeartbeatTimeout is the heartbeat and election timeout when
	// PerformanceMultiplier is unset: a follower that has heard nothing
	// from the leader for 1.5–3 s stands for election. Multiplier 2's 2 s
	// failed over in a median 4.6 s on a loaded machine, past the 5 s
	// target in 2 of 7 kills; 1.5 s keeps it under with room.
	DefaultHeartbeatTimeout = 1500 * time.Millisecond
	// DefaultLeaderLeaseTimeout is the leader lease when
	// PerformanceMultiplier is unset: multiplier 2's, so a leader slowed
	// by a loaded machine steps down no sooner than it did.
	DefaultLeaderLeaseTimeout = time.Second
	DefaultTrailingLogs       = 10000
	DefaultSnapshotThreshold  = 8192
	DefaultSnapshotInterval   = 120 * time.Second
	// logCacheSize is how many of the latest log entries are kept in memory.
	logCacheSize = 512
	// snapshotsRetained is how many snapshots raft keeps on disk.
	snapshotsRetained = 2
	// DefaultLockTimeout is the file storage's wait for a file lock.
	DefaultLockTimeout = 5 * time.Second
	// DefaultMaxSnapshotSize bounds a restored snapshot (the upload and the
	// state it unpacks to): 1 GiB, far above a secrets store's size, well
	// below what fills a disk.
	DefaultMaxSnapshotSize = 1 << 30
	maxMultiplier          = 10
)

// Config configures Open; it mirrors the storage "raft" block.
type Config struct {
	// Path is the data directory (created 0700 when missing).
	Path string
	// NodeID names this node in the cluster; empty means the ID kept in
	// Path/node-id, generated on first start.
	NodeID string
	// PerformanceMultiplier scales raft's timing (heartbeat and election
	// timeouts of 1 s, leader lease of 0.5 s, each times the multiplier):
	// 1 fails over fastest; at most 10. 0 means DefaultHeartbeatTimeout
	// and DefaultLeaderLeaseTimeout, between multipliers 1 and 2.
	PerformanceMultiplier int
	// TrailingLogs is how many log entries a snapshot leaves behind for
	// followers to catch up from; 0 means DefaultTrailingLogs.
	TrailingLogs uint64
	// SnapshotThreshold is how many new entries trigger a snapshot; 0 means
	// DefaultSnapshotThreshold.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether to snapshot; 0 means
	// DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// Transport carries raft's RPCs; nil means Stream's network transport,
	// or, without Stream, an in-memory transport that reaches no other
	// node (a single-node cluster).
	Transport hraft.Transport
	// Stream, when set and Transport is nil, carries raft's RPCs over a
	// network transport (the cluster port's mutual TLS, internal/cluster);
	// its Addr is the address this node is known by in the cluster.
	Stream hraft.StreamLayer
	// NoBootstrap leaves a node with no raft state waiting to be added to a
	// cluster instead of bootstrapping a single-node cluster of its own.
	NoBootstrap bool
	// Logger receives raft's log lines (component "raft"); nil discards them.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process (a running
	// server) to release the node's bbolt files before failing with an
	// error matching bolt.ErrLocked; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxSnapshotSize bounds a snapshot PrepareRestore accepts, in bytes,
	// both as uploaded and unpacked; 0 means DefaultMaxSnapshotSize.
	MaxSnapshotSize int64

	// baseTimeout replaces the 1 s unit of raft's timing, for tests only.
	baseTimeout time.Duration
	// autopilotUpdate and autopilotReconcile replace autopilot's intervals
	// (2 s and 10 s), for tests only.
	autopilotUpdate, autopilotReconcile time.Duration
}

// Backend is the raft physical.Backend. It is safe for concurrent use;
// Close must be called once the server stops using it.
type Backend struct {
	// raft is replaced only by resync (resync.go); r() reads it.
	raft  atomic.Pointer[hraft.Raft]
	fsm   *fsm
	logs  *raftboltdb.BoltStore
	snaps hraft.SnapshotStore
	// trans is what raft uses: the transport watched for a resync
	// (resync.go), which raft's Shutdown does not close; inner is the
	// transport it wraps, closed by Close.
	trans *watchedTransport
	inner hraft.Transport
	rc    *hraft.Config
	life  sync.Mutex // serialises resync and Close
	watch *watcher   // an unconfirmed restore, if any (resync.go)
	// resyncs counts the resyncs done (resync.go), for tests.
	resyncs atomic.Uint64
	nodeID  string
	dir     string // Config.Path
	closed  chan struct{}
	// maxSnapshot is Config.MaxSnapshotSize with its default.
	maxSnapshot int64
	// ha is the leadership campaign (ha.go).
	ha haState
	// pilot is autopilot (autopilot.go), running on the leader only.
	pilot pilot
	hlog  hclogLogger
}

var (
	_ physical.Backend       = (*Backend)(nil)
	_ physical.Transactional = (*Backend)(nil)
	_ physical.Closer        = (*Backend)(nil)
)

// Open opens or creates the node's files and starts raft. A node without raft
// state bootstraps a single-node cluster with itself as the only voter,
// unless NoBootstrap is set. Open does not wait for an election: until this
// node is leader, writes fail with ErrNotLeader (see WaitLeader).
func Open(cfg Config) (*Backend, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: path is required", ErrConfig)
	}
	if cfg.PerformanceMultiplier < 0 || cfg.PerformanceMultiplier > maxMultiplier {
		return nil, fmt.Errorf("%w: performance_multiplier must be between 0 and %d", ErrConfig, maxMultiplier)
	}
	if cfg.MaxSnapshotSize < 0 {
		return nil, fmt.Errorf("%w: max_snapshot_size must not be negative", ErrConfig)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Path, "raft"), 0o700); err != nil {
		return nil, fmt.Errorf("create raft directory: %w", err)
	}
	removeSpools(filepath.Join(cfg.Path, "raft"), cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)))
	nodeID, err := nodeID(cfg)
	if err != nil {
		return nil, err
	}
	logger := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)).With("component", "raft")
	f, err := openFSM(filepath.Join(cfg.Path, "fsm"), logger, cmp.Or(cfg.LockTimeout, DefaultLockTimeout))
	if err != nil {
		return nil, err
	}
	b, err := start(cfg, nodeID, f, logger)
	if err != nil {
		_ = f.close()
		return nil, err
	}
	return b, nil
}

func start(cfg Config, nodeID string, f *fsm, logger *slog.Logger) (*Backend, error) {
	hlog := newHCLogger(logger)
	bo := *bbolt.DefaultOptions
	bo.Timeout = cmp.Or(cfg.LockTimeout, DefaultLockTimeout)
	// The log's freelist is rebuilt at open instead of written at every
	// append (Vault's setting too): the log holds a few thousand entries
	// between compactions, so the scan is short, and a crash cannot make
	// the freelist wrong, only absent.
	bo.NoFreelistSync = true
	bo.FreelistType = bbolt.FreelistMapType
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Path, "raft", "raft.db"), BoltOptions: &bo})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open raft log: %w", bolt.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Path, "raft"), snapshotsRetained, hlog)
	if err != nil {
		_ = logs.Close()
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	rc := raftConfig(cfg, nodeID, hlog)
	trans := cfg.Transport
	switch {
	case trans != nil:
	case cfg.Stream != nil:
		trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
			Stream: cfg.Stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
		})
	default:
		_, trans = hraft.NewInmemTransport(hraft.ServerAddress(nodeID))
	}
	if !cfg.NoBootstrap {
		if err := bootstrap(rc, logs, snaps, trans); err != nil {
			_ = logs.Close()
			return nil, err
		}
	}
	b := &Backend{fsm: f, logs: logs, snaps: snaps, inner: trans, rc: rc, nodeID: nodeID, dir: cfg.Path, closed: make(chan struct{}),
		maxSnapshot: cmp.Or(cfg.MaxSnapshotSize, DefaultMaxSnapshotSize),
		hlog:        hlog, pilot: pilot{update: cfg.autopilotUpdate, reconcile: cfg.autopilotReconcile}}
	b.watch = &watcher{wake: make(chan struct{}, 1)}
	b.trans = watchTransport(trans, b.watch)
	r, err := b.newRaft()
	if err != nil {
		b.trans.stop()
		_ = logs.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	b.raft.Store(r)
	if err := b.armFromMarker(); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// newRaft starts raft on b's stores, state machine and transport.
func (b *Backend) newRaft() (*hraft.Raft, error) {
	// The latest entries stay in memory: replication and the followers'
	// state machines read them back just after they were stored, and each
	// read from raft.db is a bbolt lookup and a msgpack decode (Vault
	// keeps 512 too).
	cached, err := hraft.NewLogCache(logCacheSize, b.logs)
	if err != nil {
		return nil, err
	}
	// The state machine is a file that keeps its applied index: replaying
	// the latest snapshot into it at every start would only rewrite what it
	// holds. A state machine that has applied nothing (new, its file was
	// removed, or a resync emptied it) does take the snapshot.
	b.rc.NoSnapshotRestoreOnStart = b.fsm.applied.Load() > 0
	return hraft.NewRaft(b.rc, b.fsm, cached, b.logs, b.snaps, b.trans.raftSide())
}

// r is the running raft.
func (b *Backend) r() *hraft.Raft { return b.raft.Load() }

func raftConfig(cfg Config, nodeID string, hlog hclogLogger) *hraft.Config {
	rc := hraft.DefaultConfig()
	rc.HeartbeatTimeout, rc.LeaderLeaseTimeout = timing(cfg)
	rc.ElectionTimeout = rc.HeartbeatTimeout
	rc.TrailingLogs = cmp.Or(cfg.TrailingLogs, DefaultTrailingLogs)
	rc.SnapshotThreshold = cmp.Or(cfg.SnapshotThreshold, DefaultSnapshotThreshold)
	rc.SnapshotInterval = cmp.Or(cfg.SnapshotInterval, DefaultSnapshotInterval)
	rc.LocalID = hraft.ServerID(nodeID)
	// Concurrent writers then share one log append (one fsync) and one
	// state machine transaction per batch rather than per write.
	rc.BatchApplyCh = true
	rc.Logger = hlog
	return rc
}

// timing returns the heartbeat (and election) timeout and the leader lease.
func timing(cfg Config) (heartbeat, lease time.Duration) {
	if cfg.PerformanceMultiplier == 0 {
		if cfg.baseTimeout > 0 {
			return cfg.baseTimeout * 3 / 2, cfg.baseTimeout
		}
		return DefaultHeartbeatTimeout, DefaultLeaderLeaseTimeout
	}
	unit := cmp.Or(cfg.baseTimeout, time.Second) * time.Duration(cfg.PerformanceMultiplier)
	return unit, unit / 2
}

func bootstrap(rc *hraft.Config, logs *raftboltdb.BoltStore, snaps hraft.SnapshotStore, trans hraft.Transport) error {
	exists, err := hraft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return fmt.Errorf("read raft state: %w", err)
	}
	if exists {
		return nil
	}
	servers := hraft.Configuration{Servers: []hraft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}
	if err := hraft.BootstrapCluster(rc, logs, logs, snaps, trans, servers); err != nil {
		return fmt.Errorf("bootstrap raft cluster: %w", err)
	}
	return nil
}

// nodeID returns cfg.NodeID, or the ID kept in Path/node-id, creating it.
func nodeID(cfg Config) (string, error) {
	if cfg.NodeID != "" {
		return cfg.NodeID, nil
	}
	file := filepath.Join(cfg.Path, "node-id")
	b, err := os.ReadFile(file)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node ID: %w", err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write node ID: %w", err)
	}
	return id, nil
}

// Close stops raft and closes the files. It does not hand leadership over
// first; the other nodes elect a new leader after their election timeout.
func (b *Backend) Close() error {
	select {
	case <-b.closed:
		return nil
	default:
		close(b.closed)
	}
	b.StopAutopilot()
	b.life.Lock()
	defer b.life.Unlock()
	err := b.r().Shutdown().Error()
	b.trans.stop()
	if c, ok := b.inner.(hraft.WithClose); ok {
		_ = c.Close() // as raft's Shutdown did: a listener closed first is no error
	}
	err = errors.Join(err, b.logs.Close(), b.fsm.close())
	if err != nil {
		return fmt.Errorf("close raft storage: %w", err)
	}
	return nil
}

// Get returns the value at key from this node's state machine, or (nil,
// nil) when there is none. On a follower it may lag the leader slightly.
func (b *Backend) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if err := b.open(ctx); err != nil {
		return nil, err
	}
	return b.fsm.get(ctx, key)
}

// List returns the names directly under prefix from this node's state
// machine, as the file storage does.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := b.open(ctx); err != nil {
		return nil, err
	}
	return b.fsm.list(ctx, prefix)
}

// Put stores entry; it returns once the write is committed and applied.
func (b *Backend) Put(ctx context.Context, entry *physical.Entry) error {
	return b.Transaction(ctx, []physical.TxnOp{{Entry: entry}})
}

// Delete removes key; deleting a missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Transaction(ctx, []physical.TxnOp{{Delete: true, Entry: &physical.Entry{Key: key}}})
}

// Transaction applies ops atomically as one raft log entry and returns once
// it is committed and applied on this node. If ctx ends first the error is
// ctx's, and the write may still be applied.
func (b *Backend) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	if err := b.open(ctx); err != nil {
		return err
	}
	if err := checkOps(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if b.r().State() != hraft.Leader {
		return b.notLeader()
	}
	fut := b.r().Apply(encodeCommand(ops), applyTimeout(ctx))
	done := make(chan error, 1)
	go func() {
		err := fut.Error()
		if err == nil {
			if rerr, ok := fut.Response().(error); ok {
				err = rerr
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		return b.applyError(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyTimeout bounds how long Apply waits to enqueue: until ctx's
// deadline, or without limit (0) when it has none.
func applyTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

func (b *Backend) applyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipLost),
		errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return b.notLeader()
	case errors.Is(err, hraft.ErrRaftShutdown):
		return ErrClosed
	}
	return fmt.Errorf("raft apply: %w", err)
}

func (b *Backend) notLeader() error {
	addr, id := b.r().LeaderWithID()
	if id == "" {
		return fmt.Errorf("%w (no leader is known yet)", ErrNotLeader)
	}
	return fmt.Errorf("%w (the leader is node %q at %s)", ErrNotLeader, id, addr)
}

func (b *Backend) open(ctx context.Context) error {
	select {
	case <-b.closed:
		return ErrClosed
	default:
	}
	return ctx.Err()
}
