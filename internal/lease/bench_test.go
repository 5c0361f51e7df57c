package lease

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// benchStorage holds 100,000 registered leases, built once per process.
var benchStorage struct {
	once sync.Once
	s    *logical.InmemStorage
	h    *harness
}

const benchLeases = 100_000

// populated returns storage with benchLeases leases of realistic IDs
// ("database/creds/readonly/<24 chars>"), each owned by one of 1,000 tokens.
func populated(b *testing.B) (*harness, *logical.InmemStorage) {
	benchStorage.once.Do(func() {
		h := newHarness(b)
		mt := h.mounts.mounts["db/"]
		h.mounts.mounts = map[string]*fakeMount{"database/": mt}
		s := logical.NewInmemStorage()
		m := h.newManager(s)
		ctx := context.Background()
		for i := range benchLeases {
			resp, err := h.mounts.HandleLeaseRequest(ctx, readReq("database/creds/readonly", map[string]any{"ttl": fmt.Sprint(3600 + i%7200)}))
			if err != nil {
				panic(err)
			}
			if err := m.Register(ctx, "database/creds/readonly", Owner{Token: fmt.Sprintf("%064x", i%1000)}, resp.Secret); err != nil {
				panic(err)
			}
		}
		benchStorage.s, benchStorage.h = s, h
	})
	return benchStorage.h, benchStorage.s
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkRestore100k starts a manager over 100,000 stored leases and
// waits for its expiry index to be restored; it reports the time that takes
// and the heap the running manager holds for them (MiB per 100,000).
func BenchmarkRestore100k(b *testing.B) {
	h, s := populated(b)
	var heap float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		base := heapBytes()
		m := h.newManager(s)
		b.StartTimer()
		m.Start(context.Background())
		for !m.Restored() {
			time.Sleep(100 * time.Microsecond)
		}
		b.StopTimer()
		if m.Count() != benchLeases {
			b.Fatalf("restored %d", m.Count())
		}
		heap = float64(heapBytes()-base) / (1 << 20)
		runtime.KeepAlive(m)
		m.Stop()
		b.StartTimer()
	}
	b.ReportMetric(heap, "MiB/100k-leases")
}

// BenchmarkRegister is one lease registered on in-memory storage: the
// manager's own cost on a request that issues a leased secret.
func BenchmarkRegister(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	resp, err := h.mounts.HandleLeaseRequest(ctx, readReq("db/creds/app", nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sec := *resp.Secret
		if err := h.m.Register(ctx, "db/creds/app", Owner{Token: "70c"}, &sec); err != nil {
			b.Fatal(err)
		}
	}
}
