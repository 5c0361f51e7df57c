package raft

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	hraft "github.com/hashicorp/raft"
	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// metaBucket holds the FSM's own bookkeeping beside the data bucket.
var (
	metaBucket = []byte("raft-meta")
	appliedKey = []byte("applied_index")
)

// restoreBatchBytes bounds what one transaction of a restore holds in
// memory (bbolt keeps a write transaction's pages until commit).
const restoreBatchBytes = 32 << 20

// fsm is the raft state machine: a bbolt file with the same settings as the
// file storage (bolt.OpenDB), whose data bucket holds the keys and whose meta
// bucket the index of the last applied log entry, written in the same
// transaction as the entry's writes. A restart therefore resumes exactly
// where the file left off: entries at or below that index are skipped when
// raft replays its log.
//
// Apply, ApplyBatch, Snapshot and Restore are called by raft from one
// goroutine; get and list may run concurrently with all of them.
type fsm struct {
	dir    string
	logger *slog.Logger
	// lockTimeout is how long open waits for another process's lock on
	// the file; 0 means bolt's default.
	lockTimeout time.Duration
	// noSync is set when commits skip fsync (fsm_unsynced.go).
	noSync bool

	mu sync.RWMutex // guards db and kv against Restore's swap and close
	db *bbolt.DB
	kv *bolt.Backend

	applied atomic.Uint64

	// onRestore, when set, hears of every restore but those of this
	// node's own PreparedRestore.Apply (quiet), in a goroutine of its own.
	onRestore atomic.Pointer[func()]
	quiet     atomic.Bool
	// restores counts completed Restores, so that PreparedRestore.Apply
	// can tell whether a failed restore left this node's data replaced.
	restores atomic.Uint64
}

var (
	_ hraft.FSM         = (*fsm)(nil)
	_ hraft.BatchingFSM = (*fsm)(nil)
)

func openFSM(dir string, logger *slog.Logger, lockTimeout time.Duration) (*fsm, error) {
	f := &fsm{dir: dir, logger: logger, lockTimeout: lockTimeout}
	noSync, err := prepareUnsynced(dir, logger.Warn)
	if err != nil {
		return nil, err
	}
	f.noSync = noSync
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// open opens the file in f.dir and reads the applied index; f.mu must be
// held or f not yet shared.
func (f *fsm) open() error {
	var opts []bolt.Option
	if f.lockTimeout > 0 {
		opts = append(opts, bolt.WithLockTimeout(f.lockTimeout))
	}
	db, err := bolt.OpenDB(f.dir, opts...)
	if err != nil {
		return fmt.Errorf("open raft state machine: %w", err)
	}
	var applied uint64
	err = db.Update(func(tx *bbolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := m.Get(appliedKey); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("read raft state machine: %w", err)
	}
	// The raft log is the durable record (fsm_unsynced.go).
	db.NoSync = f.noSync
	f.db, f.kv = db, bolt.Wrap(db)
	f.applied.Store(applied)
	return nil
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.noSync {
		return f.db.Close()
	}
	err := closeUnsynced(f.dir, f.db.Sync)
	return errors.Join(err, f.db.Close())
}

func (f *fsm) get(ctx context.Context, key string) (*physical.Entry, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.kv.Get(ctx, key)
}

func (f *fsm) list(ctx context.Context, prefix string) ([]string, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.kv.List(ctx, prefix)
}

// Apply applies one committed entry.
func (f *fsm) Apply(l *hraft.Log) any { return f.ApplyBatch([]*hraft.Log{l})[0] }

// ApplyBatch applies committed entries in one bbolt transaction (without
// fsync where the boot ID is known: fsm_unsynced.go). Each command's result is nil or an error, which the
// leader's Apply future hands to the writer. A failed commit panics: raft
// counts the entries as applied, so carrying on would leave this node's
// data different from the others'; after a restart the entries are applied
// again from the log.
func (f *fsm) ApplyBatch(logs []*hraft.Log) []any {
	out := make([]any, len(logs))
	applied := f.applied.Load()
	last := applied
	var cmds [][]physical.TxnOp
	for i, l := range logs {
		if l.Type != hraft.LogCommand || l.Index <= applied {
			continue
		}
		last = l.Index
		ops, err := decodeCommand(l.Data)
		if err != nil {
			out[i] = fmt.Errorf("log entry %d: %w", l.Index, err)
			continue
		}
		cmds = append(cmds, ops)
	}
	if last == applied {
		return out
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	err := f.db.Update(func(tx *bbolt.Tx) error {
		bkt := tx.Bucket([]byte(bolt.BucketName))
		for _, ops := range cmds {
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
		}
		return tx.Bucket(metaBucket).Put(appliedKey, binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		f.logger.Error("raft state machine cannot store committed entries; stopping so that the log replays them after a restart", "error", err)
		panic(fmt.Sprintf("raft state machine: %v", err))
	}
	f.applied.Store(last)
	return out
}

// Snapshot opens a read transaction, a consistent view that Persist streams
// while writes go on.
func (f *fsm) Snapshot() (hraft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

// writeSnapshot streams the view of tx to w in the snapshot format and
// returns what it wrote.
func writeSnapshot(tx *bbolt.Tx, w io.Writer) (SnapshotInfo, error) {
	info := SnapshotInfo{AppliedIndex: txApplied(tx)}
	sw, err := newSnapshotWriter(w, info.AppliedIndex)
	if err != nil {
		return info, err
	}
	if err := tx.Bucket([]byte(bolt.BucketName)).ForEach(sw.add); err != nil {
		return info, err
	}
	info.Keys = sw.keys
	return info, sw.finish()
}

// txApplied is the applied index as the view of tx holds it.
func txApplied(tx *bbolt.Tx) uint64 {
	if v := tx.Bucket(metaBucket).Get(appliedKey); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

type fsmSnapshot struct {
	tx   *bbolt.Tx
	once sync.Once
}

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s *fsmSnapshot) Persist(sink hraft.SnapshotSink) error {
	defer s.Release()
	if _, err := writeSnapshot(s.tx, sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

// Release ends the read transaction; it may be called more than once.
func (s *fsmSnapshot) Release() { s.once.Do(func() { _ = s.tx.Rollback() }) }

// wipe empties the state machine (applied index 0), for a resync: raft
// rebuilds it from its latest snapshot and the log when started again.
func (f *fsm) wipe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("close raft state machine: %w", err)
	}
	if err := os.Remove(filepath.Join(f.dir, bolt.FileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("empty raft state machine: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("empty raft state machine: %w", err)
	}
	return f.open()
}

// Restore replaces the whole state with the snapshot in rc. It loads the
// stream into a new file beside the current one and swaps it in only once
// the checksum matched, so a truncated or corrupted snapshot changes nothing.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.dir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clear %s: %w", tmp, err)
	}
	defer os.RemoveAll(tmp)
	info, err := loadSnapshot(tmp, rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("close raft state machine: %w", err)
	}
	if err := os.Rename(filepath.Join(tmp, bolt.FileName), filepath.Join(f.dir, bolt.FileName)); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := syncDir(f.dir); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := f.open(); err != nil {
		return err
	}
	f.restores.Add(1)
	f.logger.Info("raft state machine restored from a snapshot", "keys", info.Keys, "applied_index", info.AppliedIndex)
	if cb := f.onRestore.Load(); cb != nil && !f.quiet.Load() {
		go (*cb)()
	}
	return nil
}

// loadSnapshot writes the stream r into a new database in dir and returns
// what it held; on any error the database is incomplete and must be removed.
func loadSnapshot(dir string, r io.Reader) (SnapshotInfo, error) {
	db, err := bolt.OpenDB(dir)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer db.Close()
	db.NoSync = true // one Sync at the end instead of one per batch
	var tx *bbolt.Tx
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	pending := 0
	info, err := ReadSnapshot(r, func(k, v []byte) error {
		if tx == nil {
			if tx, err = db.Begin(true); err != nil {
				return err
			}
		}
		// bbolt keeps references to key and value until commit.
		if err := tx.Bucket([]byte(bolt.BucketName)).Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
			return err
		}
		if pending += len(k) + len(v); pending >= restoreBatchBytes {
			pending = 0
			err := tx.Commit()
			tx = nil
			return err
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	if tx == nil {
		if tx, err = db.Begin(true); err != nil {
			return info, err
		}
	}
	m, err := tx.CreateBucketIfNotExists(metaBucket)
	if err == nil {
		err = m.Put(appliedKey, binary.BigEndian.AppendUint64(nil, info.AppliedIndex))
	}
	if err == nil {
		err = tx.Commit()
	}
	tx = nil
	if err != nil {
		return info, err
	}
	return info, db.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
