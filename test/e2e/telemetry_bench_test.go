package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// BenchmarkTelemetryKVRead measures KV v2 reads through HTTP with the
// metrics off (no telemetry.Metrics) and on (every layer recording, the
// status-code handler in front, as `coffer server` runs), one after the
// other in the same run so that their ratio is taken under the same load
// (docs/BENCHMARKS.md). With -count=N the two cases alternate N times.
func BenchmarkTelemetryKVRead(b *testing.B) {
	read := func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var m *telemetry.Metrics
			if mode == "on" {
				m = telemetry.New(telemetry.Config{
					PrometheusRetention: telemetry.DefaultPrometheusRetention, UsageGaugePeriod: telemetry.DefaultUsageGaugePeriod,
				})
			}
			benchHTTPOn(b, telemetryBenchServer(b, m), http.MethodGet, read, nil)
			if m != nil {
				// The reads were recorded: the figure is of a working path.
				ct, body, err := m.Encode("prometheus")
				if err != nil || ct == "" || len(body) == 0 {
					b.Fatalf("metrics: %v", err)
				}
			}
		})
	}
}

// telemetryBenchServer is benchServer with m (nil: none) wired in as the
// server command wires it.
func telemetryBenchServer(b *testing.B, m *telemetry.Metrics) *server {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	co := core.New(core.Config{
		Physical: p, StorageType: "file", Version: "test", Metrics: m,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(m.Handler(httpapi.New(co, httpapi.Options{}), false))
	b.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{core: co, url: ts.URL, client: newClient(b, ts.URL, "")}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.Sys().Unseal(init.Keys[0]); err != nil {
		b.Fatal(err)
	}
	s.root = init.RootToken
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.client.KVv2("secret").Put(context.Background(), fmt.Sprintf("bench/key-%d", i), map[string]any{"value": "0123456789abcdef0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
