package raft

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// BenchmarkDurableWrite compares durable writes (256-byte values, about 16
// concurrent writers) on a single-node raft backend with the file storage,
// in one run, since only their ratio holds on a shared machine. Raft pays
// two fsyncs per batch (the log, then the state machine) where bolt pays one.
//
//	go test ./internal/physical/raft -run XXX -bench DurableWrite -benchtime 5s -count 3
func BenchmarkDurableWrite(b *testing.B) {
	backends := map[string]func(b *testing.B) physical.Backend{
		"bolt": func(b *testing.B) physical.Backend {
			be, err := bolt.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = be.Close() })
			return be
		},
		"raft": func(b *testing.B) physical.Backend { return openSingle(b, b.TempDir()) },
	}
	for _, name := range []string{"bolt", "raft"} {
		b.Run(name, func(b *testing.B) {
			be := backends[name](b)
			ctx := context.Background()
			val := make([]byte, 256)
			var n atomic.Int64
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprintf("bench/%d", n.Add(1))
					if err := be.Put(ctx, &physical.Entry{Key: k, Value: val}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
