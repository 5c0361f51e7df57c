package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"
)

type otherKey struct{}

// TestRecordContext: the context Begin returns carries the record, still
// answers its parent's values, and is cancelled with its parent through
// the context package's own propagation (a context derived from it too).
func TestRecordContext(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	ctx, rec := New(Config{}).Begin(parent, "req-1")
	if FromContext(ctx) != rec || rec.ID != "req-1" {
		t.Fatalf("record %p, want %p", FromContext(ctx), rec)
	}
	if ctx.Value(otherKey{}) != "v" {
		t.Fatalf("parent's value lost: %v", ctx.Value(otherKey{}))
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	if FromContext(child) != rec {
		t.Fatal("a derived context lost the record")
	}
	cancel()
	for _, c := range []context.Context{ctx, child} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("cancelling the parent did not reach the record's context")
		}
	}
	if FromContext(context.Background()) != nil {
		t.Fatal("a context without a record returned one")
	}
}

// TestRequestSeriesResolvedOnce: each mount type and operation counts in
// its own series, whether resolved now or taken from the resolved ones.
func TestRequestSeriesResolvedOnce(t *testing.T) {
	t.Parallel()
	m := New(Config{PrometheusRetention: time.Hour, DisableHostname: true})
	for range 3 {
		_, rec := m.Begin(context.Background(), "r")
		rec.mountType, rec.operation = "kv", "read"
		rec.End(false, "read", false, false)
	}
	_, rec := m.Begin(context.Background(), "w")
	rec.mountType, rec.operation = "kv", "update"
	rec.End(false, "update", false, false)
	if m.requestObserver("kv", "read") != m.requests.WithLabelValues("kv", "read") {
		t.Fatal("the resolved series is not the vector's")
	}
	_, body, err := m.Encode("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`coffer_core_handle_request_duration_seconds_count{mount_type="kv",operation="read"} 3`,
		`coffer_core_handle_request_duration_seconds_count{mount_type="kv",operation="update"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
}
