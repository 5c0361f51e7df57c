package bolt

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// TestPowerCut runs writers through the real logged backend on a simulated
// disk (simdisk_test.go) and cuts the power at many points: during appends
// and their fdatasyncs, during background bbolt commits, around the log
// being emptied and rewrapped from offset 0 (a 6 KiB log wraps every few
// dozen writes), and during the replay at open (a second cut while
// replaying). After each cut it reopens and checks, per writer: every
// acknowledged put, delete and multi-op transaction is there, the one write
// whose answer was an error is there whole or not at all, and nothing
// else. bbolt's file after the cut is what its last commit that returned
// before the cut left (bbolt's own fsyncs make that durable), or what a
// later commit left: either must give the same store.
func TestPowerCut(t *testing.T) {
	lives := 150
	if testing.Short() {
		lives = 40
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runPowerCuts(t, seed, lives) })
	}
}

func runPowerCuts(t *testing.T, seed uint64, lives int) {
	old := walSize
	walSize = 6 << 10
	t.Cleanup(func() { walSize = old })
	r := &crashRig{t: t, dir: t.TempDir(), sim: newSimFS(seed), rng: rand.New(rand.NewPCG(seed, 7))}
	for w := range crashWriters {
		r.writers[w] = &crashWriter{id: w, base: map[string]string{}}
	}
	var cutOpens, needLog int
	for life := range lives {
		r.life = life
		r.sim.cutAt = 1 + r.rng.IntN(120)
		if r.rng.IntN(4) == 0 {
			r.sim.cutAt = 1 + r.rng.IntN(4) // during the open: its replay, reset or preallocation
		}
		b, err := r.open()
		if err != nil {
			cutOpens++
			r.afterFailedOpen()
			continue
		}
		r.verify(b)
		r.run(b)
		if r.crash(b) {
			needLog++
		}
	}
	b, err := r.open()
	if err != nil {
		t.Fatal(err)
	}
	r.verify(b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: %d lives, %d opens cut, %d cuts with acknowledged writes only in the log, %d log resets",
		seed, lives, cutOpens, needLog, r.sim.resetCount())
	// The test proves something only if cuts do land there.
	if resets := r.sim.resetCount(); cutOpens < lives/20 || needLog < lives/5 || resets < lives {
		t.Fatalf("too few interesting cuts: %d opens cut, %d with writes only in the log, %d resets", cutOpens, needLog, resets)
	}
}

const (
	crashWriters = 4
	crashKeys    = 5 // per writer
)

type crashRig struct {
	t   *testing.T
	dir string
	sim *simFS
	rng *rand.Rand
	// bolt is coffer.db as the disk holds it: the image of the last bbolt
	// commit that returned before the cut; latest, of the last commit.
	bolt, latest []byte
	writers      [crashWriters]*crashWriter
	life         int
	history      []string // what each life did, for a failure's message
}

// crashWriter is one writer's history since the store was last checked.
type crashWriter struct {
	id      int
	base    map[string]string  // its keys as last read back
	acked   [][]physical.TxnOp // acknowledged since
	pending []physical.TxnOp   // the write that got an error, if any
	rng     *rand.Rand
	// fixed: only single puts of one size, so that a record of an earlier
	// epoch lies exactly where the next one would be (the epoch check).
	fixed bool
}

func (r *crashRig) open() (*Backend, error) {
	path := filepath.Join(r.dir, FileName)
	if r.bolt == nil {
		_ = os.Remove(path)
	} else if err := os.WriteFile(path, r.bolt, 0o600); err != nil {
		r.t.Fatal(err)
	}
	b, err := Open(r.dir, withFS(r.sim))
	if err != nil {
		return nil, err
	}
	// The replay at open committed with bbolt's fsyncs: durable.
	r.bolt = boltImage(b.db)
	r.latest = r.bolt
	b.log.mu.Lock()
	b.log.afterApply = func() {
		img := boltImage(b.db)
		r.sim.mu.Lock()
		if img != nil && !r.sim.dead {
			r.bolt = img
		}
		if img != nil {
			r.latest = img
		}
		r.sim.mu.Unlock()
	}
	b.log.mu.Unlock()
	return b, nil
}

// afterFailedOpen: the cut came during the open, before its replay into
// bbolt (at the log's directory sync) or after that commit returned (at
// the log's reset): bbolt's file is as the open left it.
func (r *crashRig) afterFailedOpen() {
	mode := r.rng.IntN(cutModes)
	r.note("open cut at op %d, cut mode %d", r.sim.cutAt, mode)
	img, err := os.ReadFile(filepath.Join(r.dir, FileName))
	if err != nil {
		r.t.Fatal(err)
	}
	r.bolt = img
	r.sim.powerCut(mode)
}

func (r *crashRig) note(format string, args ...any) {
	r.history = append(r.history, fmt.Sprintf("life %d: ", r.life)+fmt.Sprintf(format, args...))
}

func boltImage(db *bbolt.DB) []byte {
	var buf bytes.Buffer
	if err := db.View(func(tx *bbolt.Tx) error { _, err := tx.WriteTo(&buf); return err }); err != nil {
		return nil
	}
	return buf.Bytes()
}

// run lets the writers write until the power goes (or each has written a
// few hundred times, and then the power goes).
func (r *crashRig) run(b *Backend) {
	var wg sync.WaitGroup
	fixed := r.rng.IntN(3) == 0
	for w, cw := range r.writers {
		cw.rng = rand.New(rand.NewPCG(r.rng.Uint64(), uint64(w)))
		cw.fixed = fixed
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				ops := cw.nextTxn(w, r.life*1000+i)
				if err := b.Transaction(context.Background(), ops); err != nil {
					cw.pending = ops
					return
				}
				cw.acked = append(cw.acked, ops)
			}
		}()
	}
	wg.Wait()
	r.sim.cut()
}

// nextTxn is a put, a delete or a transaction of two or three of them, on
// the writer's own keys, with values of varied length (records of varied
// size, so that the log wraps at varied offsets).
func (cw *crashWriter) nextTxn(w, i int) []physical.TxnOp {
	if cw.fixed {
		v := fmt.Sprintf("%d.%06d.0-%s", w, i, strings.Repeat("v", 100))
		k := fmt.Sprintf("w%d/k%d", w, cw.rng.IntN(crashKeys))
		return []physical.TxnOp{{Entry: &physical.Entry{Key: k, Value: []byte(v)}}}
	}
	n := 1
	if cw.rng.IntN(3) == 0 {
		n = 2 + cw.rng.IntN(2)
	}
	var ops []physical.TxnOp
	for j := range n {
		k := fmt.Sprintf("w%d/k%d", w, cw.rng.IntN(crashKeys))
		if cw.rng.IntN(4) == 0 {
			ops = append(ops, physical.TxnOp{Delete: true, Entry: &physical.Entry{Key: k}})
			continue
		}
		v := fmt.Sprintf("%d.%d.%d-%s", w, i, j, strings.Repeat("v", cw.rng.IntN(300)))
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: k, Value: []byte(v)}})
	}
	return ops
}

// crash stops b as the power cut left it and puts on disk what the cut
// leaves, in a mode drawn at random, or leaves the page cache as a kill -9
// does. It reports whether some acknowledged write is missing from the
// bbolt file it leaves, so that only the log can bring it back.
func (r *crashRig) crash(b *Backend) bool {
	r.sim.cut()
	// The process goes on after the cut until it notices: the background
	// commit catches up (images taken now count only as "latest"), and
	// its goroutine ends before the next life begins.
	_ = b.log.close() // the log's reset fails: the disk is gone
	if err := b.db.Close(); err != nil {
		r.t.Fatal(err)
	}
	latest, kill, mode := r.rng.IntN(3) == 0, r.rng.IntN(6) == 0, r.rng.IntN(cutModes)
	r.sim.mu.Lock()
	if latest {
		r.bolt = r.latest // a commit that returned after the cut: also possible
	}
	r.note("cut at op %d after %d resets, latest bbolt %v, kill %v, cut mode %d", r.sim.cutAt, r.sim.resets, latest, kill, mode)
	r.sim.mu.Unlock()
	if kill {
		img, err := os.ReadFile(filepath.Join(r.dir, FileName))
		if err != nil {
			r.t.Fatal(err)
		}
		r.bolt = img
		r.sim.kill()
	} else {
		r.sim.powerCut(mode)
	}
	return r.boltLacksAcked()
}

func (r *crashRig) boltLacksAcked() bool {
	got := r.readBolt()
	for _, cw := range r.writers {
		want := applyTxns(cw.base, cw.acked)
		for k := range crashKeys {
			key := fmt.Sprintf("w%d/k%d", cw.id, k)
			if got[key] != want[key] {
				return true
			}
		}
	}
	return false
}

// readBolt reads the bbolt image r.bolt as it is, without the log.
func (r *crashRig) readBolt() map[string]string {
	out := map[string]string{}
	if r.bolt == nil {
		return out
	}
	path := filepath.Join(r.t.TempDir(), FileName)
	if err := os.WriteFile(path, r.bolt, 0o600); err != nil {
		r.t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bbolt.Tx) error {
		if bkt := tx.Bucket(bucketName); bkt != nil {
			return bkt.ForEach(func(k, v []byte) error { out[string(k)] = string(v); return nil })
		}
		return nil
	})
	return out
}

// verify checks each writer's keys against its history and settles it:
// exactly the acknowledged writes, with or without (whole) the one that
// failed.
func (r *crashRig) verify(b *Backend) {
	r.t.Helper()
	for w, cw := range r.writers {
		got := map[string]string{}
		for k := range crashKeys {
			key := fmt.Sprintf("w%d/k%d", w, k)
			e, err := b.Get(context.Background(), key)
			if err != nil {
				r.t.Fatal(err)
			}
			if e != nil {
				got[key] = string(e.Value)
			}
		}
		without := applyTxns(cw.base, cw.acked)
		with := applyTxns(without, [][]physical.TxnOp{cw.pending})
		if !maps.Equal(got, without) && !maps.Equal(got, with) {
			r.t.Fatalf("%s\nwriter %d after the cut:\n got  %v\n want %v\n (or, with its failed write %v, %v)",
				strings.Join(r.history[max(0, len(r.history)-4):], "\n"), w, short(got), short(without), opsString(cw.pending), short(with))
		}
		names, err := b.List(context.Background(), fmt.Sprintf("w%d/", w))
		if err != nil {
			r.t.Fatal(err)
		}
		if len(names) != len(got) {
			r.t.Fatalf("writer %d: List = %v, Get found %d keys", w, names, len(got))
		}
		cw.base, cw.acked, cw.pending = got, nil, nil
	}
}

func applyTxns(base map[string]string, txns [][]physical.TxnOp) map[string]string {
	out := maps.Clone(base)
	for _, ops := range txns {
		for _, op := range ops {
			if op.Delete {
				delete(out, op.Entry.Key)
			} else {
				out[op.Entry.Key] = string(op.Entry.Value)
			}
		}
	}
	return out
}

// short shows values by their prefix (writer.write.op), not their padding.
func short(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k], _, _ = strings.Cut(v, "-")
	}
	return out
}

func opsString(ops []physical.TxnOp) string {
	var parts []string
	for _, op := range ops {
		if op.Delete {
			parts = append(parts, "delete "+op.Entry.Key)
		} else {
			v, _, _ := strings.Cut(string(op.Entry.Value), "-")
			parts = append(parts, "put "+op.Entry.Key+"="+v)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
