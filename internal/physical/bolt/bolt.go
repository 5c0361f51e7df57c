// Package bolt is the default single-node physical.Backend: one bbolt file,
// coffer.db, and its write-ahead log, coffer.wal, in a directory of their
// own.
//
// Every write is durable when it returns. Concurrent writers are
// group-committed (commit.go): a lone writer commits at once, and writers
// arriving during a commit share the next one. Open puts a write-ahead log
// in front of bbolt (logged.go, wal.go): a group is acknowledged after one
// fdatasync of the log, and bbolt commits in the background, with its own
// fsyncs, in groups as large as the backlog; the log is replayed at open.
// Wrap and WithoutWAL commit each group to bbolt before acknowledging it.
// The package stores only what the barrier hands it (ciphertext); it is not
// the place for encryption, caching or replication (see raft for HA).
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/cofferhq/coffer/internal/physical"
)

// FileName is the name of the database file inside the data directory.
const FileName = "coffer.db"

// BucketName is the single bucket every key lives in; keys carry their own
// hierarchy as "/"-separated paths. It is exported for the raft FSM, which
// writes the bucket itself and reads it through Wrap.
const BucketName = "coffer"

var bucketName = []byte(BucketName)

// Backend is a physical.Backend on a bbolt file. It is safe for concurrent
// use; Close must be called once the server stops using it.
type Backend struct {
	db     *bbolt.DB
	commit *committer
	log    *logged // nil without the write-ahead log (Wrap, WithoutWAL)
}

var (
	_ physical.Backend       = (*Backend)(nil)
	_ physical.Transactional = (*Backend)(nil)
	_ physical.Closer        = (*Backend)(nil)
)

// Option tunes Open.
type Option func(*options)

type options struct {
	maxBatchDelay time.Duration
	maxBatchSize  int
	lockTimeout   time.Duration
	noWAL         bool
	// tune, when set, adjusts bbolt's options before the file is opened:
	// for the benchmarks that compare bbolt settings (options_test.go).
	tune func(*bbolt.Options)
	// fs, when set, opens the write-ahead log instead of the real file
	// system: the crash tests' simulated disk (powercut_test.go).
	fs walFS
}

// WithMaxBatchDelay sets bbolt's DB.MaxBatchDelay, how long a Batch call
// waits for others to join its commit, on the handle OpenDB returns (the
// bench's bare-bbolt ceiling). The Backend's own commits wait for no timer.
// The default is 500µs: with 16 writers on loopback it gave about a
// quarter more durable writes per second than 1ms, and 200µs less
// (docs/BENCHMARKS.md).
func WithMaxBatchDelay(d time.Duration) Option { return func(o *options) { o.maxBatchDelay = d } }

// WithMaxBatchSize sets how many transactions may share one commit (and,
// on OpenDB's handle, how many Batch calls). The default is 256.
func WithMaxBatchSize(n int) Option { return func(o *options) { o.maxBatchSize = n } }

// WithLockTimeout sets how long Open waits for another process to release
// the database file lock before failing with ErrLocked. The default is 5s.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithoutWAL makes Open commit every group of writes to bbolt before
// acknowledging it (two fsyncs per group) instead of appending it to the
// write-ahead log (one). The data on disk is the same once closed.
func WithoutWAL() Option { return func(o *options) { o.noWAL = true } }

// initialMmapSize is the address space reserved for the file at open.
const initialMmapSize = 1 << 30

// Open creates dir (mode 0700) when missing and opens or creates the database
// file coffer.db (mode 0600) in it. It refuses, with ErrInsecurePermissions,
// a directory or an existing file that group or others may write (see
// WritableParents for the directories above). Only one process may hold the
// file; a second one gets ErrLocked.
//
// Writes are logged to coffer.wal (WALFileName) and acknowledged after its
// fdatasync, then committed to bbolt in the background (logged.go); what
// the log still holds at open, after a crash, is replayed first.
func Open(dir string, opts ...Option) (*Backend, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := OpenDB(dir, opts...)
	if err != nil {
		return nil, err
	}
	b := &Backend{db: db, commit: &committer{db: db, maxBatch: db.MaxBatchSize}}
	if o.noWAL {
		return b, nil
	}
	if o.fs == nil {
		o.fs = osFS{}
	}
	if b.log, err = openLogged(dir, db, o.fs); err != nil {
		_ = db.Close()
		return nil, err
	}
	b.commit.step = b.log.commitGroup
	return b, nil
}

// openLogged opens the write-ahead log in dir, replays what it holds into
// db and empties it.
func openLogged(dir string, db *bbolt.DB, fsys walFS) (*logged, error) {
	log, recs, err := openWAL(dir, fsys)
	if err != nil {
		return nil, err
	}
	if recs, err = notApplied(db, recs); err != nil {
		_ = log.close()
		return nil, err
	}
	if len(recs) > 0 {
		// replay commits with bbolt's fsyncs before the log is emptied.
		if err := replay(db, recs); err != nil {
			_ = log.close()
			return nil, err
		}
	}
	if err := log.reset(); err != nil {
		_ = log.close()
		return nil, err
	}
	return newLogged(db, log), nil
}

// LogDamage reports a damaged record that open found in the middle of the
// write-ahead log, with valid records of the same life after it (Later is
// 0 when there was none). Replay stopped at it, so the writes it and the
// later records held were not applied: the server warns about it.
func (b *Backend) LogDamage() Damage {
	if b.log == nil {
		return Damage{}
	}
	return b.log.log.damage
}

// OpenDB opens the file as Open does, with the very same bbolt settings,
// and returns the bare bbolt handle: for "coffer bench", whose bare-bbolt
// ceiling must commit exactly as the backend does. Nothing else should
// write Coffer's data through it.
func OpenDB(dir string, opts ...Option) (*bbolt.DB, error) {
	o := options{maxBatchDelay: 500 * time.Microsecond, maxBatchSize: 256, lockTimeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if err := checkPermissions(dir, path); err != nil {
		return nil, err
	}
	bo := &bbolt.Options{
		Timeout: o.lockTimeout,
		// Reserving address space up front spares the remaps that stall
		// every reader and writer while the file grows; it costs no memory.
		InitialMmapSize: initialMmapSize,
		// A map freelist keeps allocation cheap as the file fragments. It
		// is still synced on commit: rebuilding it at open would read every
		// page and slow start-up and idle memory on large stores.
		FreelistType: bbolt.FreelistMapType,
	}
	if o.tune != nil {
		o.tune(bo)
	}
	db, err := bbolt.Open(path, 0o600, bo)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.MaxBatchDelay = o.maxBatchDelay
	db.MaxBatchSize = o.maxBatchSize
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create bucket in %s: %w", path, err)
	}
	return db, nil
}

// Wrap returns a Backend reading and writing db, which must have been opened
// by OpenDB (so that the bucket exists). Close on the result closes db. The
// raft FSM uses it to serve Get and List exactly as the file storage does
// (it writes through its own transactions).
func Wrap(db *bbolt.DB) *Backend {
	return &Backend{db: db, commit: &committer{db: db, maxBatch: db.MaxBatchSize}}
}

// Close releases the file. With the write-ahead log it first waits for
// bbolt to hold every acknowledged write and empties the log; writes
// arriving meanwhile fail with ErrClosed.
func (b *Backend) Close() error {
	var err error
	if b.log != nil {
		err = b.log.close()
	}
	if cerr := b.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get returns the value at key, or (nil, nil) when there is none.
func (b *Backend) Get(ctx context.Context, key string) (*physical.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.log != nil {
		if v, found := b.log.get(key); found {
			if v == nil {
				return nil, nil
			}
			return &physical.Entry{Key: key, Value: v}, nil
		}
	}
	var out *physical.Entry
	err := b.db.View(func(tx *bbolt.Tx) error {
		// A cursor tells "missing" from "empty value" without relying on
		// how bbolt represents zero-length values.
		k, v := tx.Bucket(bucketName).Cursor().Seek([]byte(key))
		if k != nil && string(k) == key {
			// bbolt's slices are only valid inside the transaction.
			out = &physical.Entry{Key: key, Value: bytes.Clone(v)}
			if out.Value == nil {
				out.Value = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	return out, nil
}

// Put stores entry durably; it returns once the commit it joined is fsynced.
func (b *Backend) Put(ctx context.Context, entry *physical.Entry) error {
	return b.Transaction(ctx, []physical.TxnOp{{Entry: entry}})
}

// Delete removes key durably; deleting a missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Transaction(ctx, []physical.TxnOp{{Delete: true, Entry: &physical.Entry{Key: key}}})
}

// Transaction applies ops atomically and durably. It shares a commit with
// concurrent writers; if one of them fails, each is rerun alone, so a
// failing transaction never takes another writer's changes down with it.
func (b *Backend) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, op := range ops {
		if op.Entry == nil {
			return fmt.Errorf("op %d: %w", i, ErrNilEntry)
		}
		if op.Entry.Key == "" {
			return fmt.Errorf("op %d: %w", i, ErrEmptyKey)
		}
		if err := checkOp(op); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	if n := recordSize(ops); n > walMaxRecord {
		return fmt.Errorf("transaction of %d bytes: %w", n, ErrTooLarge)
	}
	if b.log != nil {
		// The overlay keeps the values after the call returns.
		owned := make([]physical.TxnOp, len(ops))
		for i, op := range ops {
			owned[i] = physical.TxnOp{Delete: op.Delete, Entry: &physical.Entry{Key: op.Entry.Key, Value: bytes.Clone(op.Entry.Value)}}
		}
		ops = owned
	}
	if err := b.commit.commit(ops); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// List returns the names directly under prefix in lexical order, sub-folders
// suffixed by "/", and an empty slice when there are none.
//
// Once a sub-folder is seen the cursor jumps past all of its keys, so listing
// a folder costs one seek per child, not one step per nested key.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.log != nil {
		if err := b.log.caughtUp(); err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
	}
	out := []string{}
	err := b.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); {
			rest := k[len(p):]
			i := bytes.IndexByte(rest, '/')
			if i < 0 {
				out = append(out, string(rest))
				k, _ = c.Next()
				continue
			}
			out = append(out, string(rest[:i+1]))
			// Every key under prefix+folder+"/" sorts before
			// prefix+folder+"0", '0' being the byte after '/'.
			next := make([]byte, 0, len(p)+i+1)
			next = append(append(append(next, p...), rest[:i]...), '/'+1)
			k, _ = c.Seek(next)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	return out, nil
}
