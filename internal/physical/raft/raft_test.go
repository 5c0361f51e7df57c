package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem/conformance"
)

// waitFor is how long tests wait for raft to reach a state: generous, since
// CI runs them on two loaded cores under the race detector; polls end as
// soon as the state is reached.
const waitFor = 60 * time.Second

// openSingle opens a single-node backend in dir and waits until it leads.
func openSingle(t testing.TB, dir string) *Backend {
	t.Helper()
	return openWith(t, Config{Path: dir})
}

func openWith(t testing.TB, cfg Config) *Backend {
	t.Helper()
	cfg.NodeID, cfg.baseTimeout = "n1", 100*time.Millisecond
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	eventually(t, "node leads", b.IsLeader)
	return b
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still not: %s", waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) physical.Backend { return openSingle(t, t.TempDir()) })
}

func TestRestartKeepsWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := openSingle(t, dir)
	for i := range 50 {
		if err := b.Put(ctx, &physical.Entry{Key: fmt.Sprintf("k/%02d", i), Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openSingle(t, dir)
	keys, err := b.List(ctx, "k/")
	if err != nil || len(keys) != 50 {
		t.Fatalf("after restart: %d keys, %v; want 50", len(keys), err)
	}
	if err := b.Put(ctx, &physical.Entry{Key: "after", Value: []byte("x")}); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}

func TestWriteOnFollowerIsRefused(t *testing.T) {
	b, err := Open(Config{Path: t.TempDir(), NodeID: "lonely", NoBootstrap: true, baseTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err = b.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v")})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Put on a node that is not leader = %v; want ErrNotLeader", err)
	}
	if e, err := b.Get(ctx, "k"); err != nil || e != nil {
		t.Fatalf("Get = %v, %v; want nil, nil", e, err)
	}
}

func TestBadWritesRefusedBeforeTheLog(t *testing.T) {
	b := openSingle(t, t.TempDir())
	ctx := context.Background()
	cases := map[string]struct {
		ops  []physical.TxnOp
		want error
	}{
		"nil entry": {[]physical.TxnOp{{}}, ErrNilEntry},
		"empty key": {[]physical.TxnOp{{Entry: &physical.Entry{}}}, ErrEmptyKey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := b.Transaction(ctx, tc.ops); !errors.Is(err, tc.want) {
				t.Fatalf("Transaction = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestCommandRoundTrip(t *testing.T) {
	ops := []physical.TxnOp{
		{Entry: &physical.Entry{Key: "a", Value: []byte("1")}},
		{Delete: true, Entry: &physical.Entry{Key: "b"}},
		{Entry: &physical.Entry{Key: "c", Value: []byte{}}},
	}
	got, err := decodeCommand(encodeCommand(ops))
	if err != nil || len(got) != 3 {
		t.Fatalf("decode = %v, %v", got, err)
	}
	for i := range ops {
		if got[i].Delete != ops[i].Delete || got[i].Entry.Key != ops[i].Entry.Key || !bytes.Equal(got[i].Entry.Value, ops[i].Entry.Value) {
			t.Fatalf("op %d = %+v; want %+v", i, got[i], ops[i])
		}
	}
	enc := encodeCommand(ops)
	for n := range len(enc) {
		if _, err := decodeCommand(enc[:n]); err == nil {
			t.Fatalf("a command cut to %d of %d bytes decoded", n, len(enc))
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand([]physical.TxnOp{{Entry: &physical.Entry{Key: "a", Value: []byte("1")}}}))
	f.Add([]byte{commandVersion, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := decodeCommand(data)
		if err != nil {
			return
		}
		again, err := decodeCommand(encodeCommand(ops))
		if err != nil || len(again) != len(ops) {
			t.Fatalf("re-encoded command %x does not decode: %v", data, err)
		}
		for i := range ops {
			if again[i].Delete != ops[i].Delete || again[i].Entry.Key != ops[i].Entry.Key || !bytes.Equal(again[i].Entry.Value, ops[i].Entry.Value) {
				t.Fatalf("op %d changed in a round trip: %+v → %+v", i, ops[i], again[i])
			}
		}
	})
}

func TestFSMFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	openSingle(t, dir)
	fi, err := os.Stat(filepath.Join(dir, "fsm", "coffer.db"))
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("fsm file: %v, %v; want mode 0600", fi, err)
	}
}

func logEntry(index uint64, ops []physical.TxnOp) *hraft.Log {
	return &hraft.Log{Index: index, Term: 1, Type: hraft.LogCommand, Data: encodeCommand(ops)}
}

// TestOpenRefusesFilesInUse: a second Open of a node's directory fails
// with bolt.ErrLocked after LockTimeout, whichever of the two bbolt files
// (state machine, raft log) is held, instead of waiting for ever on the
// raft log as raft-boltdb's default would.
func TestOpenRefusesFilesInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openSingle(t, dir)
	start := time.Now()
	_, err := Open(Config{Path: dir, LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) || time.Since(start) > 10*time.Second {
		t.Fatalf("open while in use: %v after %s; want bolt.ErrLocked", err, time.Since(start))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Only the raft log held (by a bare bbolt handle).
	db, err := bbolt.Open(filepath.Join(dir, "raft", "raft.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{Path: dir, LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("open with the raft log held: %v; want bolt.ErrLocked", err)
	}
	_ = db.Close()
	b2 := openWith(t, Config{Path: dir, LockTimeout: 100 * time.Millisecond})
	if err := b2.Barrier(context.Background()); err != nil {
		t.Fatalf("barrier on the leader: %v", err)
	}
}

// TestStateMachineLeftOpenAtMachineCrashIsRebuilt: the state machine
// commits without fsync, so a file left open when the machine went down
// (its marker holds another boot's ID) may be torn. It is discarded and
// rebuilt from the latest snapshot and the log entries after it, with
// every write; a marker from this boot (a process crash) keeps the file.
func TestStateMachineLeftOpenAtMachineCrashIsRebuilt(t *testing.T) {
	if bootID() == nil {
		t.Fatal("no boot ID on this machine: the unsynced state machine is not in use")
	}
	tests := map[string]struct {
		boot    string
		rebuilt bool
	}{
		"another boot": {boot: "00000000-0000-0000-0000-000000000000", rebuilt: true},
		"this boot":    {boot: string(bootID()), rebuilt: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			// One trailing log: the snapshot compacts the log, so the
			// first 40 writes survive only in the snapshot.
			cfg := Config{Path: dir, TrailingLogs: 1}
			b := openWith(t, cfg)
			put := func(i int) {
				if err := b.Put(ctx, &physical.Entry{Key: fmt.Sprintf("k/%03d", i), Value: []byte{byte(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 40 {
				put(i)
			}
			if err := b.r().Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
			for i := 40; i < 80; i++ {
				put(i)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			fsmDir := filepath.Join(dir, "fsm")
			if _, err := os.Stat(filepath.Join(fsmDir, unsyncedMarker)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("marker after a clean close: %v, want none", err)
			}
			// The machine crash: the marker of the boot the file was open
			// in, and a file whose pages did not all reach the disk.
			if err := os.WriteFile(filepath.Join(fsmDir, unsyncedMarker), []byte(tc.boot+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			// A sentinel written straight into the file tells whether it was kept.
			db, err := bolt.OpenDB(fsmDir)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte(bolt.BucketName)).Put([]byte("sentinel"), []byte("x"))
			}); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()

			b = openWith(t, cfg)
			eventually(t, "every write applied", func() bool {
				keys, err := b.List(ctx, "k/")
				return err == nil && len(keys) == 80
			})
			for i := range 80 {
				e, err := b.Get(ctx, fmt.Sprintf("k/%03d", i))
				if err != nil || e == nil || !bytes.Equal(e.Value, []byte{byte(i)}) {
					t.Fatalf("k/%03d after reopening: %v, %v", i, e, err)
				}
			}
			sentinel, err := b.Get(ctx, "sentinel")
			if err != nil {
				t.Fatal(err)
			}
			if kept := sentinel != nil; kept == tc.rebuilt {
				t.Fatalf("file kept = %v, want rebuilt = %v", kept, tc.rebuilt)
			}
			if m, err := os.ReadFile(filepath.Join(fsmDir, unsyncedMarker)); err != nil || !bytes.Equal(bytes.TrimSpace(m), bootID()) {
				t.Fatalf("marker while open: %q, %v; want this boot's ID", m, err)
			}
		})
	}
}

func TestTiming(t *testing.T) {
	tests := map[string]struct {
		mult             int
		heartbeat, lease time.Duration
	}{
		"unset: the default": {0, 1500 * time.Millisecond, time.Second},
		"multiplier 1":       {1, time.Second, 500 * time.Millisecond},
		"multiplier 2":       {2, 2 * time.Second, time.Second},
		"multiplier 10":      {10, 10 * time.Second, 5 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rc := raftConfig(Config{PerformanceMultiplier: tc.mult}, "n1", newHCLogger(slog.New(slog.DiscardHandler)))
			if rc.HeartbeatTimeout != tc.heartbeat || rc.ElectionTimeout != tc.heartbeat || rc.LeaderLeaseTimeout != tc.lease {
				t.Fatalf("heartbeat %v election %v lease %v; want %v, %v, %v", rc.HeartbeatTimeout, rc.ElectionTimeout,
					rc.LeaderLeaseTimeout, tc.heartbeat, tc.heartbeat, tc.lease)
			}
			if err := hraft.ValidateConfig(rc); err != nil {
				t.Fatal(err)
			}
		})
	}
}
