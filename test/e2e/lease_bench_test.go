package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/bench"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/lease/leasetest"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/registry"
)

// leaseBenchCount is how many leases BenchmarkLeaseScale creates:
// COFFER_BENCH_LEASES, or 100,000.
func leaseBenchCount(b *testing.B) int {
	if v := os.Getenv("COFFER_BENCH_LEASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("COFFER_BENCH_LEASES=%q", v)
		}
		return n
	}
	return 100_000
}

// scaleServer is a server on bbolt with KV v2 (1,000 keys), the leasetest
// engine at db/ and the test-only trust auth method (a login without
// bcrypt, so that the login path itself is measured).
type scaleServer struct {
	*server
	hc *http.Client
}

func newScaleServer(b *testing.B) *scaleServer {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	engines := maps.Clone(registry.Engines())
	engines[leasetest.Type] = leasetest.New().Factory
	auths := maps.Clone(registry.AuthMethods())
	auths["trust"] = trustLogin
	co := core.New(core.Config{Physical: p, StorageType: "file", Version: "bench", Engines: engines, AuthMethods: auths})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	b.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &scaleServer{server: &server{core: co, url: ts.URL, client: newClient(b, ts.URL, "")}, hc: bench.NewClient(16)}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		b.Fatal(err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	if _, err := s.client.Sys().Unseal(s.keys[0]); err != nil {
		b.Fatal(err)
	}
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		b.Fatal(err)
	}
	if err := s.client.Sys().Mount("db", &api.MountInput{Type: leasetest.Type}); err != nil {
		b.Fatal(err)
	}
	if err := s.client.Sys().EnableAuthWithOptions("trust", &api.EnableAuthOptions{Type: "trust"}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.client.KVv2("secret").Put(context.Background(), fmt.Sprintf("bench/key-%d", i), map[string]any{"value": "0123456789abcdef0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// load runs the request of i from 16 goroutines and reports req/s.
func (s *scaleServer) load(b *testing.B, method string, path func(i int64) string, body []byte) {
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, s.url+"/v1/"+path(n.Add(1)), bytes.NewReader(body))
			req.Header.Set("X-Vault-Token", s.root)
			resp, err := s.hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func (s *scaleServer) kvRead(b *testing.B) {
	s.load(b, http.MethodGet, func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }, nil)
}

// login issues a service token per request (a durable write), through the
// whole login path but for bcrypt.
func (s *scaleServer) login(b *testing.B) {
	s.load(b, http.MethodPost, func(int64) string { return "auth/trust/login" }, []byte(`{"policies":["default"],"ttl":"1h"}`))
}

// populate registers n leases of 24 hours, in-process and 256 at a time so
// that bbolt batches the commits.
func (s *scaleServer) populate(b *testing.B, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				_, err := s.core.HandleRequest(context.Background(), &logical.Request{
					Operation: logical.ReadOperation, Path: "db/creds/readonly", ClientToken: s.root, Data: map[string]any{"ttl": "24h"},
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if got := s.core.LeaseManager().Count(); got != n {
		b.Fatalf("%d leases outstanding, want %d", got, n)
	}
}

// heapMiB is the live heap after two collections.
func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// unseal times seal → unseal → a KV read answering (ready), and reports
// also when the expiry index is fully restored in the background.
func (s *scaleServer) unseal(b *testing.B, n int) {
	b.ReportAllocs()
	var restored time.Duration
	for range b.N {
		b.StopTimer()
		if err := s.core.Seal(context.Background()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		if _, err := s.client.Sys().Unseal(s.keys[0]); err != nil {
			b.Fatal(err)
		}
		if _, err := s.client.KVv2("secret").Get(context.Background(), "bench/key-1"); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for m := s.core.LeaseManager(); !m.Restored(); {
			time.Sleep(time.Millisecond)
		}
		restored += time.Since(start)
		if got := s.core.LeaseManager().Count(); got != n {
			b.Fatalf("restored %d leases, want %d", got, n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(restored.Milliseconds())/float64(b.N), "ms-to-restored")
}

// BenchmarkLeaseScale measures, in one run on bbolt, what 100,000
// outstanding leases cost. Two servers share the process: "bare" never has
// a lease, "leased" gets 100,000. After populating, each server is sealed
// and unsealed (unseal-to-ready: the unseal call and a KV read answering;
// the expiry index restores in the background and ms-to-restored says when
// it is complete), the heap the leases hold after that restore is taken,
// and then KV v2 reads and logins over HTTP are measured on leased and bare
// in turn, three times, so that each leased/bare ratio is taken under the
// same machine load. Populating takes minutes; COFFER_BENCH_LEASES sets a
// smaller count for a quick run.
func BenchmarkLeaseScale(b *testing.B) {
	n := leaseBenchCount(b)
	bare, leased := newScaleServer(b), newScaleServer(b)
	heapBefore := heapMiB()
	start := time.Now()
	leased.populate(b, n)
	took := time.Since(start)
	b.Run(fmt.Sprintf("register/leases=%d", n), func(b *testing.B) {
		b.ReportMetric(float64(n)/took.Seconds(), "leases/s")
	})
	b.Run("unseal/bare", func(b *testing.B) { bare.unseal(b, 0) })
	b.Run(fmt.Sprintf("unseal/leases=%d", n), func(b *testing.B) { leased.unseal(b, n) })
	heapAfter := heapMiB() // after a restore: the expiry queue, no warm caches
	b.Run(fmt.Sprintf("heap/leases=%d", n), func(b *testing.B) {
		b.ReportMetric((heapAfter-heapBefore)*100_000/float64(n), "MiB/100k-leases")
	})
	for range 3 {
		b.Run(fmt.Sprintf("kv-read/leases=%d", n), leased.kvRead)
		b.Run("kv-read/bare", bare.kvRead)
		b.Run(fmt.Sprintf("login/leases=%d", n), leased.login)
		b.Run("login/bare", bare.login)
	}
}
