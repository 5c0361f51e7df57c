package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

func encryptions(t *testing.T, b *barrier.Barrier) int64 {
	t.Helper()
	_, _, n, err := b.KeyStatus()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// reopen is a restart: a new barrier over the same storage, unsealed.
func reopen(t *testing.T, b *barrier.Barrier, p *inmem.Backend, key []byte) *barrier.Barrier {
	t.Helper()
	nb := barrier.New(p)
	if err := nb.Unseal(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	return nb
}

// The count is kept across a seal and a restart, not restarted from zero.
func TestEncryptionCountSurvivesSealAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := inmem.New()
	b, key := unsealed(t, p)
	for i := range 25 {
		put(t, b, fmt.Sprintf("k%d", i), "v")
	}
	if n := encryptions(t, b); n != 25 {
		t.Fatalf("count = %d, want 25", n)
	}
	b.Seal()
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := encryptions(t, b); n != 25 {
		t.Fatalf("after seal and unseal: count = %d, want 25", n)
	}
	put(t, b, "one-more", "v")
	b.Seal()
	if n := encryptions(t, reopen(t, b, p, key)); n != 26 {
		t.Fatalf("after a restart: count = %d, want 26", n)
	}
}

// A crash at any point (a new process reading storage without the old one
// sealing) never finds a count below the true one, and loses less than
// one reservation.
func TestEncryptionCountAfterCrashIsAnUpperBound(t *testing.T) {
	t.Parallel()
	const chunk = 7
	p := inmem.New()
	b, key := unsealed(t, p)
	barrier.SetReserveChunk(b, chunk)
	for i := int64(1); i <= 40; i++ {
		put(t, b, fmt.Sprintf("k%d", i), "v")
		crashed := reopen(t, b, p, key)
		n := encryptions(t, crashed)
		if n < i || n >= i+chunk {
			t.Fatalf("after %d encryptions a crash finds %d, want in [%d,%d)", i, n, i, i+chunk)
		}
	}
}

// Transactions count each encrypted put, within the reservation too.
func TestTransactionCounts(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	b, key := unsealed(t, p)
	barrier.SetReserveChunk(b, 2)
	ops := make([]logical.TxnOp, 5)
	for i := range ops {
		ops[i] = logical.TxnOp{Entry: &logical.StorageEntry{Key: fmt.Sprintf("t%d", i), Value: []byte("v")}}
	}
	if err := b.Transaction(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	if n := encryptions(t, reopen(t, b, p, key)); n < 5 {
		t.Fatalf("a crash after a 5-put transaction finds %d encryptions", n)
	}
}

func TestRotateIfDue(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		conf    barrier.RotationConfig
		writes  int
		elapsed time.Duration
		reason  string
	}{
		"count below max":        {conf: barrier.RotationConfig{MaxOperations: 5}, writes: 4},
		"count reaches max":      {conf: barrier.RotationConfig{MaxOperations: 5}, writes: 5, reason: "reached max operations"},
		"interval not yet":       {conf: barrier.RotationConfig{MaxOperations: 100, Interval: 48 * time.Hour}, elapsed: 47 * time.Hour},
		"interval elapsed":       {conf: barrier.RotationConfig{MaxOperations: 100, Interval: 48 * time.Hour}, elapsed: 48 * time.Hour, reason: "rotation interval reached"},
		"no interval":            {conf: barrier.RotationConfig{MaxOperations: 100}, elapsed: 10000 * time.Hour},
		"disabled past both":     {conf: barrier.RotationConfig{MaxOperations: 5, Interval: time.Hour, Disabled: true}, writes: 9, elapsed: 2 * time.Hour},
		"count past max lowered": {conf: barrier.RotationConfig{MaxOperations: 3}, writes: 8, reason: "reached max operations"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := base
			p := inmem.New()
			b := barrier.New(p)
			barrier.SetClock(b, func() time.Time { return now })
			key := newKey(t)
			if err := b.Initialize(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := b.Unseal(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := barrier.SetRotationConfigUnchecked(ctx, b, tc.conf); err != nil {
				t.Fatal(err)
			}
			for i := range tc.writes {
				put(t, b, fmt.Sprintf("k%d", i), "v")
			}
			now = now.Add(tc.elapsed)
			term, reason, err := b.RotateIfDue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
			wantTerm := uint32(1)
			if tc.reason != "" {
				wantTerm = 2
				if term != 2 {
					t.Fatalf("RotateIfDue returned term %d", term)
				}
			}
			if got, _, n, _ := b.KeyStatus(); got != wantTerm || (tc.reason != "" && n != 0) {
				t.Fatalf("key status: term %d, %d encryptions", got, n)
			}
			if tc.reason != "" {
				// The new key starts a new count and is not due again.
				if _, again, _ := b.RotateIfDue(ctx); again != "" {
					t.Fatalf("due again right after rotating: %s", again)
				}
			}
		})
	}
}

func TestRotationConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := inmem.New()
	b, key := unsealed(t, p)
	got, err := b.RotationConfig()
	if err != nil || got != barrier.DefaultRotationConfig() || got.MaxOperations != 3_865_470_566 || got.Disabled {
		t.Fatalf("default: %+v %v", got, err)
	}
	bad := map[string]struct {
		conf barrier.RotationConfig
		msg  string
	}{
		"too few operations":  {barrier.RotationConfig{MaxOperations: 999_999}, "max_operations must be in the range [1000000,3865470566]"},
		"too many operations": {barrier.RotationConfig{MaxOperations: 3_865_470_567}, "max_operations must be in the range [1000000,3865470566]"},
		"short interval":      {barrier.RotationConfig{MaxOperations: 1_000_000, Interval: 23 * time.Hour}, "interval must be greater or equal to 24h0m0s"},
	}
	for name, tc := range bad {
		err := b.SetRotationConfig(ctx, tc.conf)
		if !errors.Is(err, logical.ErrInvalidRequest) || err.Error() != tc.msg {
			t.Errorf("%s: %v", name, err)
		}
	}
	want := barrier.RotationConfig{MaxOperations: 2_000_000, Interval: 72 * time.Hour, Disabled: true}
	if err := b.SetRotationConfig(ctx, want); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if _, err := b.RotationConfig(); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("sealed: %v", err)
	}
	if got, _ := reopen(t, b, p, key).RotationConfig(); got != want {
		t.Fatalf("after restart: %+v, want %+v", got, want)
	}
}

// The loop rotates as soon as an encryption reaches max_operations,
// without waiting for its periodic check.
func TestRunAutoRotate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	b, _ := unsealed(t, inmem.New())
	if err := barrier.SetRotationConfigUnchecked(ctx, b, barrier.RotationConfig{MaxOperations: 3}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.RunAutoRotate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	for i := range 3 {
		put(t, b, fmt.Sprintf("k%d", i), "v")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if term, _, _, _ := b.KeyStatus(); term == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key was not rotated after reaching max_operations")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if v := get(t, b, "k0"); v != "v" {
		t.Fatalf("value under the old term: %q", v)
	}
}

// Concurrent writers never take more encryptions than stored.
func TestConcurrentCounting(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	b, key := unsealed(t, p)
	barrier.SetReserveChunk(b, 3)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := b.Put(context.Background(), &logical.StorageEntry{Key: fmt.Sprintf("w%d/%d", w, i), Value: []byte("v")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := encryptions(t, b); n != 400 {
		t.Fatalf("live count %d, want 400", n)
	}
	if n := encryptions(t, reopen(t, b, p, key)); n < 400 || n >= 403 {
		t.Fatalf("a crash finds %d, want in [400,403)", n)
	}
}

// A rekey re-encrypts the keyring with its counts and rotation settings:
// neither is lost, and a crash right after it still finds an upper bound.
func TestCountsAndRotationConfigSurviveRekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	barrier.SetReserveChunk(b, 4)
	want := barrier.RotationConfig{MaxOperations: 5_000_000, Interval: 30 * 24 * time.Hour}
	if err := b.SetRotationConfig(ctx, want); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		put(t, b, fmt.Sprintf("k%d", i), "v")
	}
	newKey := newKey(t)
	if err := b.Rekey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	crashed := reopen(t, b, p, newKey)
	if n := encryptions(t, crashed); n < 10 {
		t.Fatalf("a crash after the rekey finds %d encryptions, want at least 10", n)
	}
	if got, _ := crashed.RotationConfig(); got != want {
		t.Fatalf("rotation config after rekey: %+v", got)
	}
	put(t, b, "after", "v")
	b.Seal()
	if n := encryptions(t, reopen(t, b, p, newKey)); n != 11 {
		t.Fatalf("after rekey and a clean seal: %d encryptions, want 11", n)
	}
}
