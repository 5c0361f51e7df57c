package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
)

// fill writes n keys (one of them with an empty value) and returns them.
func fill(t testing.TB, b *Backend, n int) map[string][]byte {
	t.Helper()
	return fillRange(t, b, 0, n)
}

func fillRange(t testing.TB, b *Backend, from, to int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for i := from; i < to; i++ {
		k := fmt.Sprintf("data/%04d", i)
		v := bytes.Repeat([]byte{byte(i)}, i%300)
		if err := b.Put(context.Background(), &physical.Entry{Key: k, Value: v}); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	return want
}

func checkHolds(t testing.TB, get func(context.Context, string) (*physical.Entry, error), want map[string][]byte) {
	t.Helper()
	for k, v := range want {
		e, err := get(context.Background(), k)
		if err != nil || e == nil || !bytes.Equal(e.Value, v) {
			t.Fatalf("%s = %v, %v; want %d bytes", k, e, err, len(v))
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	b := openSingle(t, t.TempDir())
	want := fill(t, b, 300)
	var snap bytes.Buffer
	if err := b.Snapshot(context.Background(), &snap); err != nil {
		t.Fatal(err)
	}
	info, err := ReadSnapshot(bytes.NewReader(snap.Bytes()), func(k, v []byte) error { return nil })
	if err != nil || info.Keys != 300 || info.AppliedIndex == 0 {
		t.Fatalf("ReadSnapshot = %+v, %v; want 300 keys and an applied index", info, err)
	}

	f, err := openFSM(filepath.Join(t.TempDir(), "fsm"), slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap.Bytes()))); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, f.get, want)
	if got := f.applied.Load(); got != info.AppliedIndex {
		t.Fatalf("applied index after restore = %d; want %d", got, info.AppliedIndex)
	}
	keys, err := f.list(context.Background(), "data/")
	if err != nil || len(keys) != 300 {
		t.Fatalf("list after restore: %d keys, %v", len(keys), err)
	}
}

func TestCorruptedSnapshotRefused(t *testing.T) {
	b := openSingle(t, t.TempDir())
	fill(t, b, 50)
	var snap bytes.Buffer
	if err := b.Snapshot(context.Background(), &snap); err != nil {
		t.Fatal(err)
	}
	good := snap.Bytes()
	flip := func(i int) []byte {
		c := bytes.Clone(good)
		c[i] ^= 0x01
		return c
	}
	cases := map[string][]byte{
		"empty":            nil,
		"not a snapshot":   []byte("hello, this is not a snapshot at all"),
		"truncated":        good[:len(good)/2],
		"checksum cut":     good[:len(good)-5],
		"bit flip in data": flip(len(good) / 2),
		"bit flip in sum":  flip(len(good) - 1),
		"trailing garbage": append(bytes.Clone(good), 'x'),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := openFSM(filepath.Join(t.TempDir(), "fsm"), slog.New(slog.DiscardHandler), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.close()
			keep := map[string][]byte{"before": []byte("restore")}
			applyPut(t, f, 7, "before", keep["before"])
			err = f.Restore(io.NopCloser(bytes.NewReader(data)))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v; want ErrBadSnapshot", err)
			}
			checkHolds(t, f.get, keep)
			if e, _ := f.get(context.Background(), "data/0001"); e != nil {
				t.Fatal("a refused snapshot left keys behind")
			}
			if f.applied.Load() != 7 {
				t.Fatalf("applied index = %d; want 7, unchanged", f.applied.Load())
			}
			if _, err := os.Stat(f.dir + ".restore"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the partial restore file was left: %v", err)
			}
		})
	}
}

// TestRaftSnapshotRestoresLostStateMachine takes a raft snapshot, removes
// the state machine's file, and restarts: raft must restore the snapshot
// and replay the entries after it.
func TestRaftSnapshotRestoresLostStateMachine(t *testing.T) {
	dir := t.TempDir()
	// One trailing log: the snapshot's entries are compacted away, so only
	// the snapshot can bring the first 100 keys back.
	cfg := Config{Path: dir, TrailingLogs: 1}
	b := openWith(t, cfg)
	want := fill(t, b, 100)
	if err := b.r().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := b.logs.FirstIndex(); err != nil || first < 90 {
		t.Fatalf("first log index after the snapshot = %d, %v; want the log compacted", first, err)
	}
	for k, v := range fillRange(t, b, 100, 120) { // 20 more keys after the snapshot
		want[k] = v
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "fsm")); err != nil {
		t.Fatal(err)
	}
	b = openWith(t, cfg)
	eventually(t, "entries after the snapshot replayed", func() bool {
		e, _ := b.Get(context.Background(), "data/0119")
		return e != nil
	})
	checkHolds(t, b.Get, want)
}

func applyPut(t *testing.T, f *fsm, index uint64, key string, value []byte) {
	t.Helper()
	res := f.Apply(logEntry(index, []physical.TxnOp{{Entry: &physical.Entry{Key: key, Value: value}}}))
	if res != nil {
		t.Fatalf("apply: %v", res)
	}
}

func FuzzReadSnapshot(f *testing.F) {
	var buf bytes.Buffer
	sw, _ := newSnapshotWriter(&buf, 3)
	_ = sw.add([]byte("k"), []byte("v"))
	_ = sw.finish()
	f.Add(buf.Bytes())
	f.Add(snapshotMagic)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		info, err := ReadSnapshot(bytes.NewReader(data), func(k, v []byte) error { n++; return nil })
		if err == nil && info.Keys != uint64(n) {
			t.Fatalf("accepted a snapshot of %d keys that reported %d", n, info.Keys)
		}
	})
}
