package bolt

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// TestReplayKeepsLastWrite: replay applies only each key's last write, and
// the result is what applying every record in turn gives, whatever mix of
// puts and deletes a key saw in the gathering.
func TestReplayKeepsLastWrite(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{}
	r := rand.New(rand.NewPCG(1, 2))
	var recs []walRecord
	for seq := uint64(1); seq <= 400; seq++ {
		var ops []physical.TxnOp
		for range 1 + r.IntN(3) {
			k := fmt.Sprintf("k%02d", r.IntN(20))
			if r.IntN(3) == 0 {
				ops = append(ops, physical.TxnOp{Delete: true, Entry: &physical.Entry{Key: k}})
				delete(want, k)
				continue
			}
			v := fmt.Sprintf("v%d-%s", seq, k)
			ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: k, Value: []byte(v)}})
			want[k] = v
		}
		recs = append(recs, walRecord{epoch: 7, seq: seq, ops: ops})
		if seq%100 == 0 { // four commits, each of a hundred records
			if err := replay(db, recs); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
	}
	got := map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after replay:\n got %v\nwant %v", got, want)
	}
	recs, err = notApplied(db, []walRecord{{epoch: 7, seq: 400}, {epoch: 7, seq: 401}})
	if err != nil || len(recs) != 1 || recs[0].seq != 401 {
		t.Fatalf("bbolt should hold seq 400 as applied: left %v, %v", recs, err)
	}
}

// BenchmarkReplayKV is the background bbolt commit of the write-ahead log
// under KV v2 writes: each record rewrites one of 1,000 secrets' metadata
// and adds a version, and a commit gathers group records (at 5,000 writes
// a second, 500 are 100 ms of them). Reported per record, in CPU time.
func BenchmarkReplayKV(b *testing.B) {
	for _, group := range []int{500, 2000, 5000} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) { benchReplayKV(b, group) })
	}
}

func benchReplayKV(b *testing.B, group int) {
	db, err := OpenDB(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const keys = 1000
	meta, data := make([]byte, 300), make([]byte, 150)
	version := make([]int, keys)
	var seq uint64
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		recs := make([]walRecord, group)
		for i := range recs {
			k := r.IntN(keys)
			version[k]++
			seq++
			recs[i] = walRecord{epoch: 1, seq: seq, ops: []physical.TxnOp{
				{Entry: &physical.Entry{Key: fmt.Sprintf("logical/kv/versions/%064x/%020d", k, version[k]), Value: data}},
				{Entry: &physical.Entry{Key: fmt.Sprintf("logical/kv/metadata/bench/key-%d", k), Value: meta}},
			}}
		}
		if err := replay(db, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N*group), "cpu-ns/record")
}

// cpuTime is the process's user and system CPU time: the commit's cost
// apart from the time it sleeps in fdatasync.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
