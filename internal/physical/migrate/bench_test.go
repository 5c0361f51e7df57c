package migrate

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/raft"
)

// benchKeys is the store size the issue asks about.
const benchKeys = 100_000

// BenchmarkMigrateFileToRaft copies 100,000 entries shaped like a server's
// (KV v2 data and metadata under mount UUIDs, 180-byte ciphertext-sized
// values) from file storage into a new single-node raft store, as
// operator migrate does, with the default batch and with Vault-like small
// ones: keys/s is the copy alone (the raft node is elected before the
// clock starts); verify-keys/s is one Verify with values of the result.
func BenchmarkMigrateFileToRaft(b *testing.B) {
	src, err := bolt.Open(filepath.Join(b.TempDir(), "file"))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	fillBench(b, src, benchKeys)
	for _, batch := range []int{DefaultBatchSize, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCopyToRaft(b, src, batch) })
	}
}

func benchCopyToRaft(b *testing.B, src physical.Backend, batch int) {
	ctx := context.Background()
	var verified time.Duration
	for range b.N {
		b.StopTimer()
		dst, err := raft.Open(raft.Config{Path: filepath.Join(b.TempDir(), "raft"), NodeID: "n1", PerformanceMultiplier: 1})
		if err != nil {
			b.Fatal(err)
		}
		for !dst.IsLeader() {
			time.Sleep(10 * time.Millisecond)
		}
		b.StartTimer()
		res, err := Copy(ctx, src, dst, Options{BatchSize: batch})
		if err != nil || res.Copied != benchKeys {
			b.Fatalf("copy: %+v %v", res, err)
		}
		b.StopTimer()
		began := time.Now()
		if s, err := Verify(ctx, src, dst, true); err != nil || s.Keys != benchKeys {
			b.Fatalf("verify: %+v %v", s, err)
		}
		verified += time.Since(began)
		_ = dst.Close()
	}
	b.ReportMetric(float64(benchKeys*b.N)/b.Elapsed().Seconds(), "keys/s")
	b.ReportMetric(float64(benchKeys*b.N)/verified.Seconds(), "verify-keys/s")
}

func fillBench(b *testing.B, dst physical.Transactional, n int) {
	b.Helper()
	mounts := []string{"0b6f3c2e-1d4a-4f5e-9a7b-3c2d1e0f9a8b", "5e4d3c2b-1a09-48f7-b6e5-d4c3b2a19087", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}
	value := make([]byte, 180)
	ops := make([]physical.TxnOp, 0, 1000)
	for i := range n {
		_, _ = rand.Read(value)
		m := mounts[i%len(mounts)]
		key := fmt.Sprintf("logical/%s/versions/%03x/app-%d", m, i%4096, i)
		if i%2 == 1 {
			key = fmt.Sprintf("logical/%s/metadata/app-%d", m, i)
		}
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: key, Value: append([]byte(nil), value...)}})
		if len(ops) == cap(ops) || i == n-1 {
			if err := dst.Transaction(context.Background(), ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}
