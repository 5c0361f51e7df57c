package raft

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical"
)

func sealStub(sums []byte) ([]byte, error) { return append([]byte("sealed:"), sums...), nil }

func archiveOf(t testing.TB, b *Backend) ([]byte, ArchiveMeta) {
	t.Helper()
	var buf bytes.Buffer
	meta, err := b.WriteArchive(context.Background(), &buf, sealStub)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), meta
}

// restore prepares and applies an archive, as the core does.
func restore(b *Backend, archive []byte) error {
	ctx := context.Background()
	p, err := b.PrepareRestore(ctx, bytes.NewReader(archive), nil)
	if err != nil {
		return err
	}
	defer p.Close()
	return p.Apply(ctx)
}

func TestArchiveRestoreBringsBackTheSavedState(t *testing.T) {
	ctx := context.Background()
	b := openSingle(t, t.TempDir())
	want := fill(t, b, 200)
	archive, meta := archiveOf(t, b)
	if meta.Keys != 200 || meta.Index == 0 || meta.Term == 0 || meta.Format != ArchiveFormat {
		t.Fatalf("meta = %+v", meta)
	}
	got, err := ReadArchive(bytes.NewReader(archive), nil, nil)
	if err != nil || got.StateSHA256 != meta.StateSHA256 || got.Index != meta.Index {
		t.Fatalf("ReadArchive = %+v, %v; want %+v", got, err, meta)
	}
	// Writes after the save: a change, a new key, a delete.
	if err := b.Put(ctx, &physical.Entry{Key: "data/0001", Value: []byte("changed")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, &physical.Entry{Key: "later", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "data/0002"); err != nil {
		t.Fatal(err)
	}
	if err := restore(b, archive); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, b.Get, want)
	if e, err := b.Get(ctx, "later"); err != nil || e != nil {
		t.Fatalf("a key written after the save survived the restore: %v, %v", e, err)
	}
	// Writes after the restore are applied (the index moved on), and
	// survive a restart.
	if err := b.Put(ctx, &physical.Entry{Key: "after", Value: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "after"); err != nil || e == nil || string(e.Value) != "y" {
		t.Fatalf("write after restore: %v, %v", e, err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "raft")); err != nil {
		t.Fatal(err)
	}
	spooled, _ := filepath.Glob(filepath.Join(b.dir, "raft", "restore-*.tmp"))
	if len(spooled) != 0 {
		t.Fatalf("spooled files left behind: %v", spooled)
	}
}

// A snapshot from a node with a higher index (another cluster's) restores
// into a young node, and that node's later writes are not skipped as if
// already applied.
func TestArchiveFromLongerHistoryRestores(t *testing.T) {
	ctx := context.Background()
	old := openSingle(t, t.TempDir())
	want := fill(t, old, 300)
	archive, meta := archiveOf(t, old)
	young := openSingle(t, t.TempDir())
	fill(t, young, 3)
	if _, applied := young.Indexes(); applied >= meta.Index {
		t.Fatalf("test needs the young node behind: %d >= %d", applied, meta.Index)
	}
	if err := restore(young, archive); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, young.Get, want)
	if err := young.Put(ctx, &physical.Entry{Key: "new", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if e, _ := young.Get(ctx, "new"); e == nil {
		t.Fatal("a write after the restore was skipped")
	}
}

func TestDamagedArchiveRefusedAndNothingChanges(t *testing.T) {
	b := openSingle(t, t.TempDir())
	fill(t, b, 100)
	archive, _ := archiveOf(t, b)
	ctx := context.Background()
	if err := b.Put(ctx, &physical.Entry{Key: "marker", Value: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		c := bytes.Clone(archive)
		c[at] ^= 0x40
		return c
	}
	cases := map[string][]byte{
		"truncated half":     archive[:len(archive)/2],
		"truncated end":      archive[:len(archive)-3],
		"flipped in body":    flip(len(archive) / 2),
		"flipped in header":  flip(600),
		"flipped near end":   flip(len(archive) - 20),
		"empty":              nil,
		"not gzip":           []byte("hello"),
		"trailing junk":      append(bytes.Clone(archive), 0),
		"raw stream no tar":  mustSnapshot(t, b),
		"another gzip magic": append([]byte{0x1f, 0x8b}, archive[2:]...)[:len(archive)/3],
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			err := restore(b, data)
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("err = %v, want ErrBadSnapshot", err)
			}
			if e, _ := b.Get(ctx, "marker"); e == nil || string(e.Value) != "kept" {
				t.Fatal("a refused snapshot changed the data")
			}
			noSpools(t, b)
		})
	}
}

// noSpools fails when a restore spool is left in b's raft directory.
func noSpools(t *testing.T, b *Backend) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(b.dir, "raft", spoolPattern)); len(left) != 0 {
		t.Fatalf("restore spools left behind: %v", left)
	}
}

// An upload over max_snapshot_size, or one that unpacks past it (a gzip
// bomb), is refused with ErrSnapshotTooLarge before it fills the disk;
// nothing changes and no spool is left. While the spool exists it is a
// 0600 file in the raft directory.
func TestOversizedSnapshotRefused(t *testing.T) {
	ctx := context.Background()
	src := openSingle(t, t.TempDir())
	for i := 0; i < 50; i++ {
		if err := src.Put(ctx, &physical.Entry{Key: fmt.Sprintf("big/%02d", i), Value: make([]byte, 8<<10)}); err != nil {
			t.Fatal(err)
		}
	}
	plain, meta := archiveOf(t, src)
	archive := recompress(t, plain) // a bomb: small upload, large state
	if meta.StateSize < 4*int64(len(archive)) {
		t.Fatalf("the archive (%d bytes) does not compress its state (%d bytes) enough for this test", len(archive), meta.StateSize)
	}
	cases := map[string]int64{
		"upload over the limit":    int64(len(archive)) - 1,
		"state unpacks past limit": int64(len(archive)) + 1024,
	}
	for name, limit := range cases {
		t.Run(name, func(t *testing.T) {
			b := openWith(t, Config{Path: t.TempDir(), MaxSnapshotSize: limit})
			if err := b.Put(ctx, &physical.Entry{Key: "marker", Value: []byte("kept")}); err != nil {
				t.Fatal(err)
			}
			err := restore(b, archive)
			if !errors.Is(err, ErrSnapshotTooLarge) || !strings.Contains(err.Error(), "max_snapshot_size") {
				t.Fatalf("err = %v, want ErrSnapshotTooLarge naming max_snapshot_size", err)
			}
			if e, _ := b.Get(ctx, "marker"); e == nil || string(e.Value) != "kept" {
				t.Fatal("a refused snapshot changed the data")
			}
			noSpools(t, b)
		})
	}
	// At the limit exactly it is accepted; the spool is private to the server.
	b := openWith(t, Config{Path: t.TempDir(), MaxSnapshotSize: max(int64(len(archive)), meta.StateSize)})
	var modes []os.FileMode
	p, err := b.PrepareRestore(ctx, bytes.NewReader(archive), func(_, _ []byte) error {
		if len(modes) == 0 {
			left, _ := filepath.Glob(filepath.Join(b.dir, "raft", spoolPattern))
			for _, f := range left {
				if fi, err := os.Stat(f); err == nil {
					modes = append(modes, fi.Mode().Perm())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	if len(modes) != 1 || modes[0] != 0o600 {
		t.Fatalf("spool modes = %v, want one 0600 file in the raft directory", modes)
	}
	noSpools(t, b)
}

// recompress returns archive gzipped at the best compression; the
// archive's checksums cover its content, not its compression.
func recompress(t *testing.T, archive []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if _, err := io.Copy(zw, zr); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// A spool left by a crash is removed when the node opens.
func TestOpenRemovesLeftSpools(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raft", "restore-123.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	noSpools(t, openSingle(t, dir))
}

func mustSnapshot(t *testing.T, b *Backend) []byte {
	var buf bytes.Buffer
	if err := b.Snapshot(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPrepareRestoreCheckRefuses(t *testing.T) {
	b := openSingle(t, t.TempDir())
	fill(t, b, 10)
	archive, _ := archiveOf(t, b)
	wrong := errors.New("not ours")
	_, err := b.PrepareRestore(context.Background(), bytes.NewReader(archive), func(k, _ []byte) error {
		if string(k) == "data/0005" {
			return wrong
		}
		return nil
	})
	if !errors.Is(err, wrong) {
		t.Fatalf("err = %v, want the check's", err)
	}
}

// BenchmarkArchive100k measures a save (WriteArchive to a file) and a
// restore (PrepareRestore + Apply) of 100,000 keys of 300 bytes, about a
// KV v2 secret's size in the barrier.
func BenchmarkArchive100k(b *testing.B) {
	const n = 100_000
	be := openSingle(b, b.TempDir())
	ctx := context.Background()
	val := bytes.Repeat([]byte{7}, 300)
	for i := 0; i < n; i += 1000 {
		ops := make([]physical.TxnOp, 0, 1000)
		for j := i; j < i+1000; j++ {
			ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("logical/%08d", j), Value: val}})
		}
		if err := be.Transaction(ctx, ops); err != nil {
			b.Fatal(err)
		}
	}
	file := filepath.Join(b.TempDir(), "snap")
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Create(file)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := be.WriteArchive(ctx, f, sealStub); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			p, err := be.PrepareRestore(ctx, f, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Apply(ctx); err != nil {
				b.Fatal(err)
			}
			_ = p.Close()
			_ = f.Close()
		}
	})
}

// A restore on the leader reaches every follower (raft sends them the
// snapshot), and each follower, not the leader, hears of it through
// OnRestore so that its core can reload.
func TestRestoreReplicatesAndTellsFollowers(t *testing.T) {
	c := newCluster(t, 3, 0)
	saved := map[string]string{}
	for i := range 20 {
		k, v := fmt.Sprintf("k/%02d", i), "saved"
		c.write(k, v)
		saved[k] = v
	}
	c.converged(saved)
	archive, _ := archiveOf(t, c.nodes[c.leader()])
	heard := make([]chan struct{}, len(c.nodes))
	for i, b := range c.nodes {
		heard[i] = make(chan struct{}, 8)
		b.OnRestore(func() { heard[i] <- struct{}{} })
	}
	for i := range 20 {
		c.write(fmt.Sprintf("k/%02d", i), "later")
	}
	c.write("extra", "later")
	// Through onLeader: under load the node that led a moment ago may have
	// stepped down, or may step down before its followers confirm the
	// restore; it then fails with ErrNotLeader and the restore is run on the
	// new leader. OnRestore calls made for an attempt that failed are
	// dropped: only the attempt that succeeded is under test.
	lead := c.onLeader("restore", func(_ int, lead *Backend) error {
		for _, h := range heard {
			drain(h)
		}
		return restore(lead, archive)
	})
	c.converged(saved)
	for i, b := range c.nodes {
		if e, _ := b.Get(context.Background(), "extra"); e != nil {
			t.Fatalf("node%d kept a key written after the save", i)
		}
		if i == lead {
			continue
		}
		select {
		case <-heard[i]:
		case <-time.After(waitFor):
			t.Fatalf("follower node%d was not told of the restore", i)
		}
	}
	select {
	case <-heard[lead]:
		t.Fatal("the leader's own restore called OnRestore")
	default:
	}
}

// A leader cut off from its followers installs a restore locally, then
// loses its lease before any follower confirms it: Apply says the data here
// changed (ErrRestoreUnconfirmed, and ErrNotLeader) so that the core
// reloads it. When the leader steps down before installing anything,
// ErrNotLeader alone comes with the data unchanged; the test then tries
// again.
func TestRestoreOnCutOffLeaderIsUnconfirmed(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 3, 0)
	c.write("k", "saved")
	archive, _ := archiveOf(t, c.nodes[c.leader()])
	c.write("k", "later")
	deadline := time.Now().Add(waitFor)
	for {
		lead := c.leader()
		c.isolate(lead)
		err := restore(c.nodes[lead], archive)
		e, gerr := c.nodes[lead].Get(ctx, "k")
		if gerr != nil || e == nil {
			t.Fatalf("read on node%d after the restore = %v, %v", lead, e, gerr)
		}
		if errors.Is(err, ErrRestoreUnconfirmed) {
			if !errors.Is(err, ErrNotLeader) || string(e.Value) != "saved" {
				t.Fatalf("restore = %v with k = %q; want it to wrap ErrNotLeader, with the snapshot's value", err, e.Value)
			}
			return
		}
		if !errors.Is(err, ErrNotLeader) || string(e.Value) != "later" {
			t.Fatalf("restore on a cut-off leader = %v with k = %q; want ErrRestoreUnconfirmed, or ErrNotLeader with nothing changed", err, e.Value)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the cut-off leader always stepped down before installing the snapshot", waitFor)
		}
		c.reconnect(lead)
	}
}

// drain empties ch without blocking.
func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
