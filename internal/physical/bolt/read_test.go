package bolt

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
)

func wantRead(t *testing.T, r physical.ReadTx, key, want string) {
	t.Helper()
	v, found, err := r.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case want == "" && found:
		t.Fatalf("%s = %q, want it absent", key, v)
	case want != "" && (!found || string(v) != want):
		t.Fatalf("%s = %q (found %v), want %q", key, v, found, want)
	}
}

// TestReadSeesEveryAcknowledgedWrite: a read's snapshot is taken at
// BeginRead, but a key written after it and acknowledged is read from the
// overlay while bbolt lacks it, and past the snapshot once the background
// commit has moved it from the overlay to bbolt; a delete likewise.
func TestReadSeesEveryAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := mustOpen(t, t.TempDir())
	defer b.Close()
	putKV(t, b, "a", "a1")
	putKV(t, b, "b", "b1")
	if err := b.log.caughtUp(); err != nil {
		t.Fatal(err)
	}
	r, err := b.BeginRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Done()
	wantRead(t, r, "a", "a1")
	release := holdApplies(b)
	putKV(t, b, "a", "a2")
	wantRead(t, r, "a", "a2") // from the overlay
	release()
	if err := b.log.caughtUp(); err != nil {
		t.Fatal(err)
	}
	// The overlay has forgotten "a"; the snapshot still holds a1.
	wantRead(t, r, "a", "a2")
	if err := b.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := b.log.caughtUp(); err != nil {
		t.Fatal(err)
	}
	wantRead(t, r, "b", "")
	wantRead(t, r, "missing", "")
}

// TestReadIsOneSnapshotWithoutLog: without the log, keys are read from the
// transaction begun by BeginRead, and values stay valid after Done.
func TestReadIsOneSnapshotWithoutLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := Open(t.TempDir(), WithoutWAL())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	putKV(t, b, "a", "a1")
	putKV(t, b, "empty", "")
	r, err := b.BeginRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, found, err := r.Get(ctx, "empty")
	if err != nil || !found || len(v) != 0 {
		t.Fatalf("empty value: %q %v %v", v, found, err)
	}
	wantRead(t, r, "a", "a1")
	v, _, _ = r.Get(ctx, "a")
	r.Done()
	r.Done() // idempotent
	putKV(t, b, "a", "a2")
	if string(v) != "a1" {
		t.Fatalf("value after Done = %q", v)
	}
	if _, _, err := r.Get(ctx, "a"); err == nil {
		t.Fatal("Get after Done succeeded")
	}
	r, err = b.BeginRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Done()
	wantRead(t, r, "a", "a2")
}
