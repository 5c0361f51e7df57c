package core

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// BenchmarkTelemetryKVRead is a whole KV v2 read through the core (token,
// ACL, router, engine, barrier, in-memory storage) on two cores, one
// without metrics and one with (request histogram, barrier and storage
// timings). Each iteration reads once from each, alternating which goes
// first, and times each read, so the two figures and their ratio
// (on-ns/read ÷ off-ns/read) come from the same moments of the same run:
// drifting load on a shared machine moves both alike (docs/BENCHMARKS.md).
func BenchmarkTelemetryKVRead(b *testing.B) {
	ctx := context.Background()
	setup := func(m *telemetry.Metrics) (*Core, string) {
		c := New(Config{Physical: inmem.New(), StorageType: "inmem", Metrics: m, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
		_, root, err := c.DevInit(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Seal(context.Background()) })
		if _, err := do(c, root, logical.UpdateOperation, "secret/data/app", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
			b.Fatal(err)
		}
		return c, root
	}
	m := telemetry.New(telemetry.Config{PrometheusRetention: telemetry.DefaultPrometheusRetention})
	off, offTok := setup(nil)
	on, onTok := setup(m)
	read := func(c *Core, tok string) time.Duration {
		start := time.Now()
		resp, err := do(c, tok, logical.ReadOperation, "secret/data/app", nil)
		if err != nil || resp == nil {
			b.Fatal("read", err)
		}
		return time.Since(start)
	}
	var offT, onT time.Duration
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			offT += read(off, offTok)
			onT += read(on, onTok)
		} else {
			onT += read(on, onTok)
			offT += read(off, offTok)
		}
		n++
	}
	b.ReportMetric(float64(offT.Nanoseconds())/float64(n), "off-ns/read")
	b.ReportMetric(float64(onT.Nanoseconds())/float64(n), "on-ns/read")
	b.ReportMetric(float64(onT)/float64(offT), "on/off")
}
