package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical"
)

// simLog returns a log file holding data on a fresh simulated disk.
func simLog(t testing.TB, data []byte) logFile {
	t.Helper()
	s := newSimFS(1)
	f, err := s.OpenFile("/sim/"+WALFileName, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func threeRecords() ([]byte, [][]physical.TxnOp) {
	txns := [][]physical.TxnOp{
		{{Entry: &physical.Entry{Key: "a", Value: []byte("1")}}},
		{{Entry: &physical.Entry{Key: "b", Value: []byte("22")}}, {Delete: true, Entry: &physical.Entry{Key: "a"}}},
		{{Entry: &physical.Entry{Key: "c", Value: []byte("")}}},
	}
	w := &wal{epoch: 42, seq: 6}
	return bytes.Clone(w.encode(txns)), txns
}

// TestEveryDamagedByteEndsTheReplayBeforeItsRecord: whichever byte of a
// record is damaged (its length, its checksum, its epoch, seq, ops), reading
// returns exactly the records before it: the checksum covers the length
// field and the whole payload.
func TestEveryDamagedByteEndsTheReplayBeforeItsRecord(t *testing.T) {
	data, _ := threeRecords()
	var ends []int // end offset of each record
	for off := 0; off < len(data); {
		off += walHeader + int(binary.LittleEndian.Uint32(data[off:]))
		ends = append(ends, off)
	}
	for i := range data {
		for _, flip := range []byte{0x01, 0x80, 0xff, 0x5a} {
			damaged := bytes.Clone(data)
			damaged[i] ^= flip
			damaged = append(damaged, make([]byte, 256)...) // zeros follow, as in a new log
			w := &wal{f: simLog(t, damaged)}
			recs, err := w.read()
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for want < len(ends) && ends[want] <= i {
				want++
			}
			wantSize := 0
			if want > 0 {
				wantSize = ends[want-1]
			}
			if len(recs) != want || w.size != int64(wantSize) {
				t.Fatalf("byte %d ^ %#x: read %d records (%d bytes), want %d", i, flip, len(recs), w.size, want)
			}
		}
	}
}

// FuzzWALRead: whatever the file holds, reading never panics, never
// allocates beyond the file, and what it accepts is byte for byte what
// encode writes for those records (under either checksum format).
func FuzzWALRead(f *testing.F) {
	data, _ := threeRecords()
	f.Add(data)
	f.Add(data[:len(data)-3])
	f.Add(append(bytes.Clone(data[:20]), data...))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		w := &wal{f: simLog(t, data)}
		recs, err := w.read()
		if err != nil || len(recs) == 0 {
			return
		}
		txns := make([][]physical.TxnOp, len(recs))
		for i, r := range recs {
			txns[i] = r.ops
		}
		enc := (&wal{epoch: w.epoch, seq: recs[0].seq - 1}).encode(txns)
		if int64(len(enc)) != w.size || !bytes.Equal(withoutCRCs(enc), withoutCRCs(data[:w.size])) {
			t.Fatalf("accepted %d records (%d bytes) that do not re-encode to the file's bytes", len(recs), w.size)
		}
	})
}

func withoutCRCs(p []byte) []byte {
	p = bytes.Clone(p)
	for off := 0; off+walHeader <= len(p); {
		n := int(binary.LittleEndian.Uint32(p[off:]))
		binary.LittleEndian.PutUint32(p[off+4:], 0)
		off += walHeader + n
	}
	return p
}

// smallLog makes new logs 4 KiB for the test: the simulated disk keeps
// them in memory.
func smallLog(t *testing.T) {
	old := walSize
	walSize = 4 << 10
	t.Cleanup(func() { walSize = old })
}

// TestLogOfTheFirstFormatIsReplayed: records written before the checksum
// covered the length field are still read back.
func TestLogOfTheFirstFormatIsReplayed(t *testing.T) {
	data, txns := threeRecords()
	for off := 0; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		binary.LittleEndian.PutUint32(data[off+4:], crc32.Checksum(data[off+walHeader:off+walHeader+n], crcTable))
		off += walHeader + n
	}
	w := &wal{f: simLog(t, append(data, make([]byte, 64)...))}
	recs, err := w.read()
	if err != nil || len(recs) != len(txns) || recs[2].seq != 9 {
		t.Fatalf("read %d records, %v; want %d", len(recs), err, len(txns))
	}
}

// TestFailedFdatasyncIsNotAcknowledgedAndStopsWrites: an fdatasync that
// fails (EIO, ENOSPC) leaves the kernel's page cache in an unknown state,
// so the write gets the error, the log is never synced again by this
// process (no retry: a retried fsync can "succeed" over pages the kernel
// already dropped), and every later write gets the error too. Reads go on;
// the log is not emptied at Close, and the next start replays it.
func TestFailedFdatasyncIsNotAcknowledgedAndStopsWrites(t *testing.T) {
	smallLog(t)
	dir, s := t.TempDir(), newSimFS(3)
	b, err := Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	holdApplies(b) // "a" stays in the log alone
	putKV(t, b, "a", "1")
	s.mu.Lock()
	s.failSync = syscall.EIO
	s.mu.Unlock()
	if err := b.Put(context.Background(), &physical.Entry{Key: "b", Value: []byte("2")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Put with a failing fdatasync: %v, want EIO", err)
	}
	s.mu.Lock()
	s.failSync = nil // the disk is back: this process must not trust it
	ops := s.ops
	s.mu.Unlock()
	if err := b.Put(context.Background(), &physical.Entry{Key: "c", Value: []byte("3")}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Put after a failed fdatasync: %v, want the same error", err)
	}
	s.mu.Lock()
	after := s.ops
	s.mu.Unlock()
	if after != ops {
		t.Fatal("the log was written or synced again after its fdatasync failed")
	}
	wantValue(t, b, "a", "1")
	wantValue(t, b, "b", "")
	b = reopenAfterPowerCut(t, b, s, dir) // the held commit never returns
	wantValue(t, b, "a", "1")
	wantValue(t, b, "c", "")
}

// TestFullLogMakesWritersWaitForBbolt: when a group does not fit in the
// rest of the log, its writers wait until bbolt holds everything (then the
// log is emptied); they get no error.
func TestFullLogMakesWritersWaitForBbolt(t *testing.T) {
	smallLog(t)
	dir, s := t.TempDir(), newSimFS(4)
	b, err := Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release := holdApplies(b)
	value := strings.Repeat("v", 500)
	i := 0
	for ; b.log.log.size+600 < b.log.log.cap; i++ {
		putKV(t, b, fmt.Sprint("k", i), value)
	}
	done := make(chan error, 1)
	go func() { done <- b.Put(context.Background(), &physical.Entry{Key: "last", Value: []byte(value)}) }()
	select {
	case err := <-done:
		t.Fatalf("a write into a full log returned (%v) while bbolt was held back", err)
	case <-time.After(100 * time.Millisecond):
	}
	resets := s.resetCount()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.resetCount() - resets; n != 1 {
		t.Fatalf("the log was emptied %d times, want once", n)
	}
	wantValue(t, b, "last", value)
	wantValue(t, b, fmt.Sprint("k", i-1), value)
}

// TestLogDirectoryIsSyncedAtEveryOpen: a log created and filled by a
// process killed before it synced the directory has a directory entry that
// a power cut can still remove; the next open must sync it before it
// acknowledges anything.
func TestLogDirectoryIsSyncedAtEveryOpen(t *testing.T) {
	smallLog(t)
	dir, s := t.TempDir(), newSimFS(5)
	name := filepath.Join(dir, WALFileName)
	zeros := make([]byte, walSize)
	s.files[name] = &simFile{data: zeros, durable: bytes.Clone(zeros), perm: 0o600} // not linked
	b, err := Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	holdApplies(b)
	putKV(t, b, "k", "acknowledged")
	b = reopenAfterPowerCut(t, b, s, dir)
	wantValue(t, b, "k", "acknowledged")
}

// reopenAfterPowerCut stands for a power cut under b: its bbolt file is
// closed without waiting for a commit, the simulated disk loses all it
// had not synced, and the store is opened again on what is left.
func reopenAfterPowerCut(t *testing.T, b *Backend, s *simFS, dir string) *Backend {
	t.Helper()
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.powerCut(cutDropAll)
	b, err := Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestTransactionLargerThanARecordIsRefused: a transaction whose record
// would pass walMaxRecord (1 GiB; the length field is 32 bits) is refused
// before the log, like a value bbolt would refuse.
func TestTransactionLargerThanARecordIsRefused(t *testing.T) {
	old := walMaxRecord
	walMaxRecord = 1 << 20
	t.Cleanup(func() { walMaxRecord = old })
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	half := make([]byte, 600<<10)
	err := b.Transaction(context.Background(), []physical.TxnOp{
		{Entry: &physical.Entry{Key: "a", Value: half}},
		{Entry: &physical.Entry{Key: "b", Value: half}},
	})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Transaction of 1.2 MiB with a 1 MiB record bound: %v, want ErrTooLarge", err)
	}
	if err := b.Put(context.Background(), &physical.Entry{Key: "a", Value: half}); err != nil {
		t.Fatal(err)
	}
}

// TestReplayNeverUndoesPartOfATransactionBboltHolds: a process killed
// while a record was written but not yet synced leaves it in the page
// cache; the next start reads it back and commits it to bbolt. If the
// power then goes before the log is emptied, the disk's log lacks that
// record while bbolt holds it, and replaying the log's earlier records over
// bbolt must not put back older values of some of its keys and not of
// others: the transaction stays whole.
func TestReplayNeverUndoesPartOfATransactionBboltHolds(t *testing.T) {
	smallLog(t)
	dir, s := t.TempDir(), newSimFS(6)
	b, err := Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	putKV(t, b, "a", "1")
	if err := b.log.caughtUp(); err != nil {
		t.Fatal(err)
	}
	// The next record, written and never synced (its writer got no answer).
	w := &wal{epoch: b.log.log.epoch, seq: b.log.log.seq}
	rec := w.encode([][]physical.TxnOp{{
		{Entry: &physical.Entry{Key: "a", Value: []byte("2")}},
		{Entry: &physical.Entry{Key: "b", Value: []byte("2")}},
	}})
	if _, err := b.log.log.f.WriteAt(rec, b.log.log.size); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.kill()
	s.cutAtReset = true // the open replays both records, then the power goes
	if _, err := Open(dir, withFS(s)); err == nil {
		t.Fatal("the open was not cut")
	}
	s.powerCut(cutDropAll) // the unsynced record is gone from the log
	b, err = Open(dir, withFS(s))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, _ := b.Get(context.Background(), "a")
	bv, _ := b.Get(context.Background(), "b")
	switch {
	case a != nil && string(a.Value) == "1" && bv == nil: // without the transaction
	case a != nil && string(a.Value) == "2" && bv != nil && string(bv.Value) == "2": // with it
	default:
		t.Fatalf("a = %v, b = %v: part of a transaction undone", a, bv)
	}
}
