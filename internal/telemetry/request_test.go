package telemetry

import (
	"context"
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
