package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem/conformance"
)

func open(t testing.TB, dir string, opts ...bolt.Option) *bolt.Backend {
	t.Helper()
	b, err := bolt.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) physical.Backend { return open(t, t.TempDir()) })
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	open(t, dir)
	cases := map[string]struct {
		path string
		mode os.FileMode
	}{
		"directory": {dir, 0o700},
		"database":  {filepath.Join(dir, bolt.FileName), 0o600},
		"log":       {filepath.Join(dir, bolt.WALFileName), 0o600},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.mode {
				t.Fatalf("mode = %o, want %o", got, tc.mode)
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, &physical.Entry{Key: "k/v", Value: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir)
	e, err := b.Get(ctx, "k/v")
	if err != nil || e == nil || string(e.Value) != "kept" {
		t.Fatalf("Get after reopen = %+v, %v", e, err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	_, err := bolt.Open(dir, bolt.WithLockTimeout(50*time.Millisecond))
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
}

func TestWriteValidation(t *testing.T) {
	b := open(t, t.TempDir())
	cases := map[string]struct {
		ops  []physical.TxnOp
		want error
	}{
		"nil entry": {[]physical.TxnOp{{}}, bolt.ErrNilEntry},
		"empty key": {[]physical.TxnOp{{Entry: &physical.Entry{Value: []byte("x")}}}, bolt.ErrEmptyKey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := b.Transaction(context.Background(), tc.ops); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A failing transaction in a shared batch must not undo a concurrent one.
func TestFailingTransactionIsolatedInBatch(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	tooLong := string(make([]byte, 40000)) // over bbolt's maximum key size
	done := make(chan error, 1)
	go func() {
		done <- b.Transaction(ctx, []physical.TxnOp{
			{Entry: &physical.Entry{Key: "bad/1", Value: []byte("x")}},
			{Entry: &physical.Entry{Key: tooLong, Value: []byte("x")}},
		})
	}()
	if err := b.Put(ctx, &physical.Entry{Key: "good", Value: []byte("ok")}); err != nil {
		t.Fatalf("good Put: %v", err)
	}
	if err := <-done; err == nil {
		t.Fatal("transaction with an oversized key succeeded")
	}
	if e, _ := b.Get(ctx, "good"); e == nil {
		t.Fatal("good write lost")
	}
	if e, _ := b.Get(ctx, "bad/1"); e != nil {
		t.Fatal("failed transaction partly applied")
	}
}

func TestListSkipsLargeSubfolders(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	var ops []physical.TxnOp
	for i := range 2000 {
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("m/big/%05d/x", i), Value: []byte("v")}})
	}
	ops = append(ops,
		physical.TxnOp{Entry: &physical.Entry{Key: "m/a", Value: []byte("v")}},
		physical.TxnOp{Entry: &physical.Entry{Key: "m/big0", Value: []byte("v")}},
		physical.TxnOp{Entry: &physical.Entry{Key: "m/big-", Value: []byte("v")}},
		physical.TxnOp{Entry: &physical.Entry{Key: "m/c/d", Value: []byte("v")}},
		physical.TxnOp{Entry: &physical.Entry{Key: "n", Value: []byte("v")}},
	)
	if err := b.Transaction(ctx, ops); err != nil {
		t.Fatal(err)
	}
	got, err := b.List(ctx, "m/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "big-", "big/", "big0", "c/"}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	got, err = b.List(ctx, "m/big/")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2000 || got[0] != "00000/" || got[1999] != "01999/" {
		t.Fatalf("List(m/big/) = %d names, first %q", len(got), got[0])
	}
}

func TestNonASCIIKeys(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	for _, k := range []string{"u/é/1", "u/\xff", "u/a"} {
		if err := b.Put(ctx, &physical.Entry{Key: k, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.List(ctx, "u/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "é/", "\xff"}; !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

// BenchmarkPutParallel measures durable writes with about 16 concurrent
// writers, the case group commit exists for.
func BenchmarkPutParallel(b *testing.B) {
	ctx := context.Background()
	be := open(b, b.TempDir())
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

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	be := open(b, b.TempDir())
	var ops []physical.TxnOp
	for i := range 1000 {
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("bench/%d", i), Value: make([]byte, 256)}})
	}
	if err := be.Transaction(ctx, ops); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if e, err := be.Get(ctx, ops[i%1000].Entry.Key); err != nil || e == nil {
			b.Fatal(err)
		}
	}
}

func TestWrapWritesAndReads(t *testing.T) {
	db, err := bolt.OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := bolt.Wrap(db)
	defer b.Close()
	ctx := context.Background()
	if err := b.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "k"); err != nil || e == nil || string(e.Value) != "v" {
		t.Fatalf("Get = %v, %v", e, err)
	}
}
