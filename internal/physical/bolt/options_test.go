package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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

// benchKVWritesLogged is benchKVWrites through a group commit that runs
// logBatch on each group before committing it to bbolt (wal-sim).
func benchKVWritesLogged(b *testing.B, be *Backend, clients int, logBatch func([]*pending) error) {
	c := &loggedCommitter{committer: be.commit, log: logBatch}
	benchKVWritesWith(b, clients, c.commit)
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

// BenchmarkOptions compares bbolt settings for the file storage on
// KV-v2-shaped durable writes (docs/BENCHMARKS.md, issue 9). "default"
// is Open as the server uses it; "nosync" (no fsync at all, never
// acceptable) is the bound no commit scheme can beat; "wal-sim" costs
// what a write-ahead log with one fdatasync per group would on the write
// path (an append of the group's records and one fdatasync, then bbolt's
// commit without fsyncs), leaving out the log's replay and checkpoints.
func BenchmarkOptions(b *testing.B) {
	cases := map[string]func(*bbolt.Options){
		"default":        nil,
		"NoFreelistSync": func(o *bbolt.Options) { o.NoFreelistSync = true },
		"array-freelist": func(o *bbolt.Options) { o.FreelistType = bbolt.FreelistArrayType },
		"no-mmap-size":   func(o *bbolt.Options) { o.InitialMmapSize = 0 },
		"NoStatistics":   func(o *bbolt.Options) { o.NoStatistics = true },
		"nosync":         func(o *bbolt.Options) { o.NoSync = true },
		"wal-sim":        func(o *bbolt.Options) { o.NoSync = true },
		"wal-zeroed":     func(o *bbolt.Options) { o.NoSync = true },
	}
	for _, clients := range []int{10, 16} {
		// "default" runs between the others, so that each is compared with
		// the runs just before and after it on a machine whose load drifts.
		for _, name := range []string{"default", "NoFreelistSync", "default", "array-freelist", "default", "no-mmap-size",
			"default", "NoStatistics", "default", "nosync", "default", "wal-sim", "default", "wal-zeroed", "default"} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, clients), func(b *testing.B) {
				dir := b.TempDir()
				be, err := Open(dir, func(o *options) { o.tune = cases[name] })
				if err != nil {
					b.Fatal(err)
				}
				defer be.Close()
				if name == "wal-sim" || name == "wal-zeroed" {
					benchKVWritesLogged(b, be, clients, simulatedLog(b, filepath.Join(dir, "wal"), name == "wal-zeroed"))
					return
				}
				benchKVWrites(b, be, clients)
			})
		}
	}
}

// simulatedLog appends every transaction of a group to a file and
// fdatasyncs it once. zeroed writes the file full of zeros first, so that
// the fdatasyncs need not journal a new size or newly written extents.
func simulatedLog(b *testing.B, path string, zeroed bool) func([]*pending) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	if zeroed {
		if _, err := f.Write(make([]byte, 256<<20)); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
	}
	var buf []byte
	return func(batch []*pending) error {
		buf = buf[:0]
		for _, p := range batch {
			for _, op := range p.ops {
				buf = binary.AppendUvarint(buf, uint64(len(op.Entry.Key)))
				buf = append(buf, op.Entry.Key...)
				buf = binary.AppendUvarint(buf, uint64(len(op.Entry.Value)))
				buf = append(buf, op.Entry.Value...)
			}
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		return syscall.Fdatasync(int(f.Fd()))
	}
}

// loggedCommitter is the committer's group commit with a log write in
// front of each group: what a write-ahead log would add to the write path.
type loggedCommitter struct {
	*committer
	log func([]*pending) error

	mu      sync.Mutex
	queue   []*pending
	running bool
}

func (c *loggedCommitter) commit(ops []physical.TxnOp) error {
	p := &pending{ops: ops, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.running {
		c.mu.Unlock()
		return <-p.done
	}
	c.running = true
	for len(c.queue) > 0 {
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		if err := c.log(batch); err != nil {
			for _, q := range batch {
				q.done <- err
			}
		} else {
			c.run(batch)
		}
		c.mu.Lock()
	}
	c.running = false
	c.mu.Unlock()
	return <-p.done
}
