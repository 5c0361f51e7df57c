package bolt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// kvWriteOps is what a KV v2 write hands the physical layer, sized as the
// barrier's ciphertext of a 64-byte secret: a new version key, the path's
// metadata rewritten, and the version past max_versions (10) deleted.
func kvWriteOps(path, version int) []physical.TxnOp {
	vk := func(v int) string { return fmt.Sprintf("logical/0c6f7e3a/versions/%064x/%020d", path, v) }
	ops := []physical.TxnOp{
		{Entry: &physical.Entry{Key: vk(version), Value: make([]byte, 110)}},
		{Entry: &physical.Entry{Key: fmt.Sprintf("logical/0c6f7e3a/metadata/bench/key-%d", path), Value: make([]byte, 40+28*min(version, 10))}},
	}
	if version > 10 {
		ops = append(ops, physical.TxnOp{Delete: true, Entry: &physical.Entry{Key: vk(version - 10)}})
	}
	return ops
}

// benchKVWrites runs KV-v2-shaped durable writes to random paths of 1,000
// from clients goroutines (with -cpu 2: 10 or 16) against b.
func benchKVWrites(b *testing.B, be *Backend, clients int) {
	ctx := context.Background()
	benchKVWritesWith(b, clients, func(ops []physical.TxnOp) error { return be.Transaction(ctx, ops) })
}

func benchKVWritesWith(b *testing.B, clients int, write func([]physical.TxnOp) error) {
	var versions [1000]atomic.Int64
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := rand.IntN(len(versions))
			if err := write(kvWriteOps(p, int(versions[p].Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkOptions compares settings of the file storage on KV-v2-shaped
// durable writes (docs/BENCHMARKS-WRITES.md, issue 9). "default" is Open
// as the server uses it (write-ahead log, bbolt in the background);
// "no-wal" commits each group to bbolt before acknowledging it (the
// default before the log); the bbolt options are measured on "no-wal";
// "nosync" (no fsync at all, never acceptable) is the bound no commit
// scheme can beat.
func BenchmarkOptions(b *testing.B) {
	tune := func(f func(*bbolt.Options)) []Option {
		return []Option{WithoutWAL(), func(o *options) { o.tune = f }}
	}
	cases := map[string][]Option{
		"default":        nil,
		"no-wal":         {WithoutWAL()},
		"NoFreelistSync": tune(func(o *bbolt.Options) { o.NoFreelistSync = true }),
		"array-freelist": tune(func(o *bbolt.Options) { o.FreelistType = bbolt.FreelistArrayType }),
		"nosync":         tune(func(o *bbolt.Options) { o.NoSync = true }),
	}
	for _, clients := range []int{10, 16} {
		// "default" runs between the others, so that each is compared with
		// the runs just before and after it on a machine whose load drifts.
		for _, name := range []string{"default", "no-wal", "default", "NoFreelistSync", "default", "array-freelist",
			"default", "nosync", "default"} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, clients), func(b *testing.B) {
				be, err := Open(b.TempDir(), cases[name]...)
				if err != nil {
					b.Fatal(err)
				}
				defer be.Close()
				benchKVWrites(b, be, clients)
			})
		}
	}
}
