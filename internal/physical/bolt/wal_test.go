package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// holdApplies stops b's background bbolt commits: acknowledged writes then
// live only in the log (and the overlay) until crash or release.
func holdApplies(b *Backend) (release func()) {
	ch := make(chan struct{})
	b.log.mu.Lock()
	b.log.beforeApply = func() { <-ch }
	b.log.mu.Unlock()
	return func() { close(ch) }
}

// crash drops b as a kill -9 would: nothing is drained, the log is not
// emptied; the files are closed so that the directory can be opened again.
// The held background commit is left blocked.
func crash(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.log.log.f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, dir string) *Backend {
	t.Helper()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putKV(t *testing.T, b *Backend, key, value string) {
	t.Helper()
	if err := b.Put(context.Background(), &physical.Entry{Key: key, Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
}

func wantValue(t *testing.T, b *Backend, key, want string) {
	t.Helper()
	e, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case want == "" && e != nil:
		t.Fatalf("%s = %q, want it absent", key, e.Value)
	case want != "" && (e == nil || string(e.Value) != want):
		t.Fatalf("%s = %v, want %q", key, e, want)
	}
}

// inBolt reads key from the bbolt file alone, as if there were no log.
func inBolt(t *testing.T, dir, key string) bool {
	t.Helper()
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found bool
	_ = db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucketName).Get([]byte(key)) != nil
		return nil
	})
	return found
}

func TestLoggedWritesSurviveACrashBeforeBboltHasThem(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	putKV(t, b, "kept", "before") // committed to bbolt in the background
	if err := b.log.caughtUp(); err != nil {
		t.Fatal(err)
	}
	holdApplies(b)
	putKV(t, b, "a", "1")
	putKV(t, b, "kept", "after")
	if err := b.Transaction(context.Background(), []physical.TxnOp{
		{Entry: &physical.Entry{Key: "b", Value: []byte("2")}},
		{Delete: true, Entry: &physical.Entry{Key: "a"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The overlay answers while bbolt does not have the writes yet.
	wantValue(t, b, "a", "")
	wantValue(t, b, "b", "2")
	wantValue(t, b, "kept", "after")
	crash(t, b)
	if inBolt(t, dir, "b") {
		t.Fatal("bbolt has b before the replay: the test proves nothing")
	}
	b = mustOpen(t, dir)
	defer b.Close()
	wantValue(t, b, "a", "")
	wantValue(t, b, "b", "2")
	wantValue(t, b, "kept", "after")
}

func TestLogReplayStopsAtATornTail(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	holdApplies(b)
	putKV(t, b, "a", "1")
	putKV(t, b, "b", "2")
	size := b.log.log.size
	crash(t, b)
	// A third record cut short, as a write whose fdatasync never returned.
	f, err := os.OpenFile(filepath.Join(dir, WALFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &wal{epoch: 0, seq: 2}
	rec := w.encode([][]physical.TxnOp{{{Entry: &physical.Entry{Key: "c", Value: []byte("3")}}}})
	if _, err := f.WriteAt(rec[:len(rec)-2], size); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	b = mustOpen(t, dir)
	defer b.Close()
	wantValue(t, b, "a", "1")
	wantValue(t, b, "b", "2")
	wantValue(t, b, "c", "")
	if d := b.LogDamage(); d.Later != 0 {
		t.Fatalf("a torn tail reported as damage: %+v", d)
	}
}

// TestLogWrapsAndReplaysOnlyTheCurrentEpoch: with a log of a few KiB it is
// emptied and rewritten from offset 0 many times, leaving older records
// behind the current ones; a crash at any point must replay exactly the
// acknowledged writes, never an older value.
func TestLogWrapsAndReplaysOnlyTheCurrentEpoch(t *testing.T) {
	old := walSize
	walSize = 4 << 10
	t.Cleanup(func() { walSize = old })
	// One directory for all rounds: records from earlier lives of the log
	// (seq starting again from 1) lie behind the current ones too.
	dir := t.TempDir()
	want := map[string]string{}
	for round := range 20 {
		b := mustOpen(t, dir)
		n := 50 + rand.IntN(400)
		for i := range n {
			k := fmt.Sprintf("k%d", rand.IntN(20))
			if round%3 != 0 && i == n-3 && b.log.log.size+1024 < b.log.log.cap {
				holdApplies(b) // the last writes only in the log
			}
			if rand.IntN(5) == 0 {
				if err := b.Delete(context.Background(), k); err != nil {
					t.Fatal(err)
				}
				delete(want, k)
				continue
			}
			v := fmt.Sprintf("%d-%d-%s", round, i, strings.Repeat("x", rand.IntN(200)))
			putKV(t, b, k, v)
			want[k] = v
		}
		if round%3 == 0 { // no writes held back: Close would wait for them
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(t, b)
		}
		b = mustOpen(t, dir)
		for k := range 20 {
			wantValue(t, b, fmt.Sprintf("k%d", k), want[fmt.Sprintf("k%d", k)])
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseLeavesAnEmptyLog(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	for i := range 100 {
		putKV(t, b, fmt.Sprintf("k%d", i), "v")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !inBolt(t, dir, "k99") {
		t.Fatal("k99 not in bbolt after Close")
	}
	w, recs, err := openWAL(dir, osFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if len(recs) != 0 {
		t.Fatalf("%d records left in the log after Close", len(recs))
	}
	if err := b.Put(context.Background(), &physical.Entry{Key: "late", Value: []byte("v")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
}

func TestListWaitsForBboltToHoldAcknowledgedWrites(t *testing.T) {
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	release := holdApplies(b)
	putKV(t, b, "dir/a", "1")
	got := make(chan []string, 1)
	go func() {
		keys, err := b.List(context.Background(), "dir/")
		if err != nil {
			t.Error(err)
		}
		got <- keys
	}()
	select {
	case keys := <-got:
		t.Fatalf("List returned %v while bbolt lacked dir/a", keys)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if keys := <-got; len(keys) != 1 || keys[0] != "a" {
		t.Fatalf("List = %v, want [a]", keys)
	}
}

func TestTooLargeIsRefusedBeforeTheLog(t *testing.T) {
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	size := b.log.log.size
	err := b.Put(context.Background(), &physical.Entry{Key: strings.Repeat("k", bbolt.MaxKeySize+1), Value: []byte("v")})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put with a key of %d bytes: %v, want ErrTooLarge", bbolt.MaxKeySize+1, err)
	}
	if b.log.log.size != size {
		t.Fatal("the refused write reached the log")
	}
}

func TestOverlayKeepsItsOwnCopy(t *testing.T) {
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	defer holdApplies(b)()
	v := []byte("secret")
	if err := b.Put(context.Background(), &physical.Entry{Key: "k", Value: v}); err != nil {
		t.Fatal(err)
	}
	copy(v, "XXXXXX")
	e, err := b.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Value, []byte("secret")) {
		t.Fatalf("Get = %q after the caller reused its slice", e.Value)
	}
	e.Value[0] = 'Y'
	wantValue(t, b, "k", "secret")
}

// TestRecordsFromAnEarlierLifeAreNotReplayed: records of equal size, so
// that the one left behind the new log by the previous life sits exactly
// where the next record would be, with the next seq.
func TestRecordsFromAnEarlierLifeAreNotReplayed(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	putKV(t, b, "a", "1")
	putKV(t, b, "b", "1")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, dir)
	holdApplies(b)
	putKV(t, b, "b", "2") // seq 1 again, over the old "a"; the old "b" follows
	crash(t, b)
	b = mustOpen(t, dir)
	defer b.Close()
	wantValue(t, b, "b", "2")
}

// TestCloseDuringWrites: writers racing Close either get their write
// acknowledged, and find it after reopening, or get an error; none panics.
func TestCloseDuringWrites(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	acked := make(chan string, 10_000)
	done := make(chan struct{})
	for w := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := b.Put(context.Background(), &physical.Entry{Key: k, Value: []byte("v")}); err != nil {
					return
				}
				acked <- k
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		<-done
	}
	close(acked)
	b = mustOpen(t, dir)
	defer b.Close()
	n := 0
	for k := range acked {
		wantValue(t, b, k, "v")
		n++
	}
	if n == 0 {
		t.Fatal("no write acknowledged before Close")
	}
}

// TestOpenRefusesALogWritableByOthers: the log is replayed into bbolt at
// open, so whoever can write it can delete any key or put back an earlier
// ciphertext of it; like the database file, a log that group or others may
// write is refused (in a directory others may read, which is allowed).
func TestOpenRefusesALogWritableByOthers(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	b := mustOpen(t, dir)
	putKV(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, WALFileName)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o666, 0o620, 0o602} {
		if err := os.Chmod(log, mode); err != nil {
			t.Fatal(err)
		}
		b, err := Open(dir)
		if err == nil {
			_ = b.Close()
			t.Fatalf("a log of mode %04o was accepted", mode)
		}
		if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600 "+log) {
			t.Fatalf("mode %04o: got %v, want ErrInsecurePermissions naming the chmod", mode, err)
		}
	}
	if err := os.Chmod(log, 0o644); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, dir)
	wantValue(t, b, "k", "v")
	_ = b.Close()
}

// TestLogHeaderLongerThanTheFile: a damaged first header claiming a record
// of gigabytes ends the replay without allocating it.
func TestLogHeaderLongerThanTheFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	b := mustOpen(t, dir)
	putKV(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, WALFileName), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xf0, 0xff, 0xff, 0x7f, 1, 2, 3, 4}, 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	w, err := os.OpenFile(filepath.Join(dir, WALFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs, err := (&wal{f: w}).read()
	runtime.ReadMemStats(&after)
	if err != nil || len(recs) != 0 {
		t.Fatalf("read = %d records, %v; want none and no error", len(recs), err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("reading the damaged header allocated %d bytes", grew)
	}
	b = mustOpen(t, dir)
	wantValue(t, b, "k", "v")
	_ = b.Close()
}

// TestLogDamageInTheMiddleIsReported: a record damaged in the middle of
// the log (not a torn tail) ends the replay there as before, but open
// reports it with the number of valid later records it did not replay, so
// the loss is not silent; a torn tail and a clean log report nothing.
func TestLogDamageInTheMiddleIsReported(t *testing.T) {
	dir := t.TempDir()
	b := mustOpen(t, dir)
	holdApplies(b)
	var ends []int64
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		putKV(t, b, k, k+"-value")
		ends = append(ends, b.log.log.size)
	}
	crash(t, b)
	f, err := os.OpenFile(filepath.Join(dir, WALFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte in the value of the second record ("b").
	one := make([]byte, 1)
	if _, err := f.ReadAt(one, ends[1]-2); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x40
	if _, err := f.WriteAt(one, ends[1]-2); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	b = mustOpen(t, dir)
	wantValue(t, b, "a", "a-value")
	wantValue(t, b, "b", "")
	if d := b.LogDamage(); d.Later != 3 || d.Offset != ends[0] || d.Seq != b.log.log.damage.Seq || d.Seq == 0 {
		t.Fatalf("LogDamage = %+v, want the second record (offset %d) with 3 later records", d, ends[0])
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpen(t, dir)
	defer b.Close()
	if d := b.LogDamage(); d != (Damage{}) {
		t.Fatalf("a clean reopen reports %+v", d)
	}
}

// setGathering sets how long and for how many writes the background
// commit gathers, for one test.
func setGathering(t *testing.T, delay time.Duration, batch int) {
	oldDelay, oldBatch := applyDelay, applyBatch
	applyDelay, applyBatch = delay, batch
	t.Cleanup(func() { applyDelay, applyBatch = oldDelay, oldBatch })
}

// within fails the test when fn has not returned after d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still waiting after %s", what, d)
	}
}

func dbHas(b *Backend, key string) bool {
	var found bool
	_ = b.db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucketName).Get([]byte(key)) != nil
		return nil
	})
	return found
}

// The background commit lets writes gather (applyDelay), but no caller
// that needs bbolt to hold them waits for that: List, Close and a write
// that finds the log full make it commit at once.
func TestGatheringNeverDelaysWhoWaitsForBbolt(t *testing.T) {
	setGathering(t, time.Hour, 1<<20)
	old := walSize
	walSize = 4 << 10
	t.Cleanup(func() { walSize = old })
	dir := t.TempDir()
	b := mustOpen(t, dir)
	putKV(t, b, "dir/a", "1")
	time.Sleep(20 * time.Millisecond)
	if dbHas(b, "dir/a") {
		t.Fatal("bbolt committed dir/a at once: the commit did not gather")
	}
	within(t, 20*time.Second, "List", func() {
		if keys, err := b.List(context.Background(), "dir/"); err != nil || len(keys) != 1 {
			t.Errorf("List = %v, %v; want [a]", keys, err)
		}
	})
	if !dbHas(b, "dir/a") {
		t.Fatal("List returned before bbolt held dir/a")
	}
	within(t, 60*time.Second, "writes filling the log", func() {
		for i := range 100 { // about six times the 4 KiB log
			putKV(t, b, fmt.Sprintf("k%d", i), strings.Repeat("v", 200))
		}
	})
	within(t, 20*time.Second, "Close", func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	if !inBolt(t, dir, "k99") {
		t.Fatal("k99 not in bbolt after Close")
	}
}

// Once applyBatch writes wait for bbolt, the background commit stops
// gathering.
func TestGatheringEndsAtApplyBatch(t *testing.T) {
	setGathering(t, time.Hour, 5)
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	for i := range 5 {
		putKV(t, b, fmt.Sprintf("k%d", i), "v")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !dbHas(b, "k4") {
		if time.Now().After(deadline) {
			t.Fatal("5 writes waiting, applyBatch 5: still not in bbolt after 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
