package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/bench"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// runHTTPLatency is runHTTP that also reports the 99th percentile latency
// and the rate, for comparisons between sub-benchmarks of one run. body
// gives each of the 16 goroutines its request body, by goroutine number.
func runHTTPLatency(b *testing.B, method, url, token string, body func(g int) []byte) {
	hc := bench.NewClient(16)
	b.SetParallelism(8) // 16 goroutines on 2 CPUs
	var mu sync.Mutex
	var all []time.Duration
	var next atomic.Int32
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1)) - 1
		var lat []time.Duration
		defer func() {
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
		for pb.Next() {
			req, _ := http.NewRequest(method, url, bytes.NewReader(body(g)))
			if token != "" {
				req.Header.Set("X-Vault-Token", token)
			}
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			lat = append(lat, time.Since(t0))
		}
	})
	b.StopTimer()
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[min(len(all)-1, len(all)*99/100)].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkApproleLogin measures AppRole logins over loopback from 16
// clients on bolt storage (every write fsynced), against a bare token
// create (an orphan, as a login token is) by root in the same run: both
// end in one service token written durably; a login first checks the role
// ID and the secret ID (three storage reads) and, with a use limit, also
// rewrites the secret ID (each client has its own, as machines do).
func BenchmarkApproleLogin(b *testing.B) {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	s := startWithTrust(b, p)
	roleID := enableApprole(b, s, map[string]any{"token_policies": "build", "token_ttl": "1h"})
	unlimited, err := s.client.Logical().Write("auth/approle/role/build/secret-id", nil)
	if err != nil {
		b.Fatal(err)
	}
	var counted [16]string
	for i := range counted {
		sec, err := s.client.Logical().Write("auth/approle/role/build/secret-id", map[string]any{"num_uses": 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		counted[i] = sec.Data["secret_id"].(string)
	}
	login := func(secret any) []byte {
		return fmt.Appendf(nil, `{"role_id":%q,"secret_id":%q}`, roleID, secret)
	}
	create := []byte(`{"policies":["build"],"ttl":"1h"}`)
	b.Run("token-create-orphan", func(b *testing.B) {
		runHTTPLatency(b, http.MethodPost, s.url+"/v1/auth/token/create-orphan", s.root, func(int) []byte { return create })
	})
	unlimitedBody := login(unlimited.Data["secret_id"])
	b.Run("approle-login", func(b *testing.B) {
		runHTTPLatency(b, http.MethodPost, s.url+"/v1/auth/approle/login", "", func(int) []byte { return unlimitedBody })
	})
	b.Run("approle-login-num-uses", func(b *testing.B) {
		runHTTPLatency(b, http.MethodPost, s.url+"/v1/auth/approle/login", "", func(g int) []byte { return login(counted[g%len(counted)]) })
	})
}
