package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// BenchmarkPutParallel measures committed (durable) writes with about 16
// concurrent writers, as bolt's benchmark of the same name does.
func BenchmarkPutParallel(b *testing.B) {
	ctx := context.Background()
	be := pgtest.Open(b, pgtest.URL(b))
	val := make([]byte, 256)
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
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
}

// BenchmarkTransaction measures a committed three-write transaction, the
// shape of a KV v2 write with its metadata, from 16 writers.
func BenchmarkTransaction(b *testing.B) {
	ctx := context.Background()
	be := pgtest.Open(b, pgtest.URL(b))
	val := make([]byte, 256)
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			ops := []physical.TxnOp{
				{Entry: &physical.Entry{Key: fmt.Sprintf("bench/%d/a", i), Value: val}},
				{Entry: &physical.Entry{Key: fmt.Sprintf("bench/%d/b", i), Value: val}},
				{Entry: &physical.Entry{Key: fmt.Sprintf("bench/%d/c", i), Value: val}},
			}
			if err := be.Transaction(ctx, ops); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
}

// BenchmarkGetParallel measures reads by key from 16 readers.
func BenchmarkGetParallel(b *testing.B) {
	ctx := context.Background()
	be := seeded(b, 1000)
	var n atomic.Int64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if e, err := be.Get(ctx, fmt.Sprintf("bench/%d", n.Add(1)%1000)); err != nil || e == nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkList lists a folder of 100 keys, each with nested keys below it
// that List must skip.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	be := pgtest.Open(b, pgtest.URL(b))
	var ops []physical.TxnOp
	for i := range 100 {
		for j := range 20 {
			ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("l/%03d/%d", i, j), Value: []byte("v")}})
		}
	}
	if err := be.Transaction(ctx, ops); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if names, err := be.List(ctx, "l/"); err != nil || len(names) != 100 {
			b.Fatal(len(names), err)
		}
	}
}

func seeded(b *testing.B, n int) physical.Backend {
	be := pgtest.Open(b, pgtest.URL(b))
	var ops []physical.TxnOp
	for i := range n {
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("bench/%d", i), Value: make([]byte, 256)}})
	}
	if err := be.Transaction(context.Background(), ops); err != nil {
		b.Fatal(err)
	}
	return be
}
