package kubernetes

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// BenchmarkOfflineLoginHandler is the offline check alone: the login
// handler (role cache, failure limiter, RS256 signature against the cached
// JWKS, claims, bindings, the Auth) called by 16 goroutines, with no HTTP
// and no token issued. A jwttest issuer stands in for the cluster's JWKS;
// BenchmarkKubeLogin measures the same through HTTP against a real API
// server.
func BenchmarkOfflineLoginHandler(b *testing.B) {
	h := offline(b)
	tok := h.iss.Sign(b, h.saClaims("team-a", "app", "coffer"))
	if _, err := h.login("app", tok); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	cpu0 := processCPU()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.do(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": tok}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/login")
}

// processCPU is the CPU time (user + system) this process has used: a
// login's cost whatever else the machine runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
