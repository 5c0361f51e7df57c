package inmem_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/physical/inmem/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) physical.Backend { return inmem.New() })
}

func TestNilEntryIsSentinel(t *testing.T) {
	err := inmem.New().Transaction(context.Background(), []physical.TxnOp{{}})
	if !errors.Is(err, inmem.ErrNilEntry) {
		t.Fatalf("err = %v, want ErrNilEntry", err)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := inmem.New()
	if _, err := b.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get err = %v", err)
	}
	if err := b.Put(ctx, &physical.Entry{Key: "k"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put err = %v", err)
	}
}
