package lockout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

var testCfg = Config{Threshold: 3, Duration: 10 * time.Minute, CounterReset: 5 * time.Minute}

// attempt runs one attempt for k through tr and returns Acquire's error.
func attempt(t testing.TB, tr *Tracker, k Key, cfg Config, o Outcome) error {
	t.Helper()
	ctx := context.Background()
	if err := tr.Acquire(ctx, k, cfg); err != nil {
		return err
	}
	tr.Release(ctx, k, cfg, o, "")
	return nil
}

func newTracker(t testing.TB, s logical.Storage, clk *fakeClock, o Options) *Tracker {
	t.Helper()
	o.Now = clk.Now
	tr := NewTracker(s, o)
	if err := tr.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTrackerSequences plays sequences of attempts and clock moves, and
// checks what the next attempt meets.
func TestTrackerSequences(t *testing.T) {
	t.Parallel()
	type step struct {
		advance time.Duration
		outcome Outcome
	}
	fail := step{outcome: Failed}
	ok := step{outcome: Succeeded}
	wait := func(d time.Duration) step { return step{advance: d, outcome: -1} }
	cases := map[string]struct {
		steps      []step
		wantLocked bool
	}{
		"below the threshold":            {steps: []step{fail, fail}, wantLocked: false},
		"threshold locks":                {steps: []step{fail, fail, fail}, wantLocked: true},
		"still locked just before end":   {steps: []step{fail, fail, fail, wait(10*time.Minute - time.Second)}, wantLocked: true},
		"lock ends after duration":       {steps: []step{fail, fail, fail, wait(10 * time.Minute)}, wantLocked: false},
		"success clears the count":       {steps: []step{fail, fail, ok, fail, fail}, wantLocked: false},
		"neutral does not count":         {steps: []step{fail, fail, {outcome: Neutral}, {outcome: Neutral}}, wantLocked: false},
		"counter resets after quiet":     {steps: []step{fail, fail, wait(5 * time.Minute), fail, fail}, wantLocked: false},
		"counter holds within the reset": {steps: []step{fail, fail, wait(5*time.Minute - time.Second), fail}, wantLocked: true},
		"after the lock the count is new": {steps: []step{fail, fail, fail, wait(10 * time.Minute), fail, fail},
			wantLocked: false},
	}
	k := Key{Accessor: "auth_userpass_1", Alias: "alice"}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			tr := newTracker(t, logical.NewInmemStorage(), clk, Options{})
			for i, s := range tc.steps {
				if s.outcome < 0 {
					clk.Advance(s.advance)
					continue
				}
				if err := attempt(t, tr, k, testCfg, s.outcome); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			err := tr.Acquire(context.Background(), k, testCfg)
			if locked := errors.Is(err, ErrLocked); locked != tc.wantLocked {
				t.Fatalf("locked=%v (%v), want %v", locked, err, tc.wantLocked)
			}
			if err == nil {
				tr.Release(context.Background(), k, testCfg, Neutral, "")
			}
			other := Key{Accessor: k.Accessor, Alias: "bob"}
			if err := attempt(t, tr, other, testCfg, Neutral); err != nil {
				t.Fatalf("another alias is affected: %v", err)
			}
			if err := attempt(t, tr, Key{Accessor: "auth_userpass_2", Alias: "alice"}, testCfg, Neutral); err != nil {
				t.Fatalf("the same alias on another mount is affected: %v", err)
			}
		})
	}
}

// TestTrackerPersistsLocks: a lock is one storage write when taken, is read
// back by a new tracker (restart, seal/unseal), and goes when it expires or
// is unlocked. Failures below the threshold write nothing.
func TestTrackerPersistsLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &countingStorage{Storage: logical.NewInmemStorage()}
	clk := newClock()
	tr := newTracker(t, s, clk, Options{})
	k := Key{Accessor: "auth_userpass_1", Alias: "al/ice ünicode"}
	for range 2 {
		if err := attempt(t, tr, k, testCfg, Failed); err != nil {
			t.Fatal(err)
		}
	}
	if s.puts != 0 {
		t.Fatalf("failed attempts below the threshold wrote %d times", s.puts)
	}
	if err := attempt(t, tr, k, testCfg, Failed); err != nil {
		t.Fatal(err)
	}
	if s.puts != 1 {
		t.Fatalf("the lock wrote %d times, want 1", s.puts)
	}

	restarted := newTracker(t, s, clk, Options{})
	if err := restarted.Acquire(ctx, k, testCfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock lost over a restart: %v", err)
	}
	got, err := restarted.Locked(ctx, "", func(string) (Config, bool) { return testCfg, true })
	if err != nil || len(got["auth_userpass_1"]) != 1 || got["auth_userpass_1"][0] != k.Alias {
		t.Fatalf("listing: %v %v", got, err)
	}

	clk.Advance(testCfg.Duration)
	if err := attempt(t, restarted, k, testCfg, Neutral); err != nil {
		t.Fatalf("after the duration: %v", err)
	}
	if e, _ := s.Get(ctx, storageKey(k)); e != nil {
		t.Fatal("the expired lock stayed in storage")
	}

	// Unlock ends a lock at once, in memory and storage.
	for range 3 {
		_ = attempt(t, restarted, k, testCfg, Failed)
	}
	if err := restarted.Unlock(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := attempt(t, restarted, k, testCfg, Neutral); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if err := attempt(t, newTracker(t, s, clk, Options{}), k, testCfg, Neutral); err != nil {
		t.Fatalf("unlock did not reach storage: %v", err)
	}
	if err := restarted.Unlock(ctx, Key{Accessor: "auth_userpass_1", Alias: "nobody"}); err != nil {
		t.Fatalf("unlocking what is not locked: %v", err)
	}
}

// TestTrackerLocked: the listing leaves out expired locks and locks of
// mounts that are gone, and deletes them.
func TestTrackerLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := logical.NewInmemStorage()
	clk := newClock()
	tr := newTracker(t, s, clk, Options{})
	lock := func(acc, alias string) {
		for range 3 {
			_ = attempt(t, tr, Key{acc, alias}, testCfg, Failed)
		}
	}
	lock("a1", "old")
	clk.Advance(9 * time.Minute)
	lock("a1", "new")
	lock("a2", "x")
	lock("gone", "y")
	configFor := func(acc string) (Config, bool) { return testCfg, acc != "gone" }
	clk.Advance(2 * time.Minute) // "old" expired
	got, err := tr.Locked(ctx, "", configFor)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[a1:[new] a2:[x]]" {
		t.Fatalf("got %v", got)
	}
	if got, err := tr.Locked(ctx, "a2", configFor); err != nil || fmt.Sprint(got) != "map[a2:[x]]" {
		t.Fatalf("filtered: %v %v", got, err)
	}
	if keys, _ := s.List(ctx, "gone/"); len(keys) != 0 {
		t.Fatalf("locks of a mount that is gone stayed: %v", keys)
	}
}

// TestTrackerBounded: random names cannot grow memory past the bounds, and
// a lock pushed out of memory still holds (read back from storage).
func TestTrackerBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	tr := newTracker(t, logical.NewInmemStorage(), clk, Options{MaxCounters: 8, MaxLocks: 4})
	for i := range 1000 {
		_ = attempt(t, tr, Key{"acc", fmt.Sprintf("random-%d", i)}, testCfg, Failed)
	}
	if n := len(tr.entries); n > 8 {
		t.Fatalf("%d entries in memory for counters, bound 8", n)
	}
	locked := make([]Key, 10)
	for i := range locked {
		locked[i] = Key{"acc", fmt.Sprintf("locked-%d", i)}
		for range 3 {
			_ = attempt(t, tr, locked[i], testCfg, Failed)
		}
	}
	if n := tr.locks.Len(); n > 4 {
		t.Fatalf("%d locks in memory, bound 4", n)
	}
	if n := len(tr.entries); n > 12 {
		t.Fatalf("%d entries in memory, bound 12", n)
	}
	for _, k := range locked {
		if err := tr.Acquire(context.Background(), k, testCfg); !errors.Is(err, ErrLocked) {
			t.Fatalf("%s: a lock pushed out of memory no longer holds: %v", k.Alias, err)
		}
	}
}

// TestTrackerLongAlias: an alias past MaxAliasLen is tracked by its digest,
// so it cannot inflate memory or storage keys, and still locks and unlocks.
func TestTrackerLongAlias(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := newTracker(t, logical.NewInmemStorage(), newClock(), Options{})
	k := Key{"acc", strings.Repeat("x", 100000)}
	for range 3 {
		_ = attempt(t, tr, k, testCfg, Failed)
	}
	if err := tr.Acquire(ctx, k, testCfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("long alias not locked: %v", err)
	}
	got, _ := tr.Locked(ctx, "acc", func(string) (Config, bool) { return testCfg, true })
	if len(got["acc"]) != 1 || len(got["acc"][0]) > MaxAliasLen || !strings.HasPrefix(got["acc"][0], "sha256:") {
		t.Fatalf("listing: %v", got)
	}
	if err := tr.Unlock(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := attempt(t, tr, k, testCfg, Neutral); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestTrackerParallelAttempts: no more attempts than the threshold allows
// run at once, so parallel guesses cannot outrun the count; the others wait
// and then meet the lock.
func TestTrackerParallelAttempts(t *testing.T) {
	t.Parallel()
	tr := newTracker(t, logical.NewInmemStorage(), newClock(), Options{})
	k := Key{"acc", "alice"}
	ctx := context.Background()
	for i := range 3 {
		if err := tr.Acquire(ctx, k, testCfg); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := tr.Acquire(cancelled, k, testCfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("a fourth attempt in flight was let through: %v", err)
	}
	done := make(chan error)
	go func() { done <- tr.Acquire(ctx, k, testCfg) }()
	for range 3 {
		tr.Release(ctx, k, testCfg, Failed, "")
	}
	if err := <-done; !errors.Is(err, ErrLocked) {
		t.Fatalf("the waiting attempt: %v", err)
	}

	// Successes free their slot for the next one, and keep the count at 0.
	good := Key{"acc", "bob"}
	for i := range 3 {
		if err := tr.Acquire(ctx, good, testCfg); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	go func() { done <- tr.Acquire(ctx, good, testCfg) }()
	tr.Release(ctx, good, testCfg, Succeeded, "")
	if err := <-done; err != nil {
		t.Fatalf("the waiting attempt after a success: %v", err)
	}
	for range 3 {
		tr.Release(ctx, good, testCfg, Succeeded, "")
	}
	if len(tr.entries) != 1 {
		t.Fatalf("successful logins left state behind: %d entries", len(tr.entries))
	}
}

// TestTrackerLoweredThreshold: lowering the threshold below a count locks
// at once rather than leaving attempts waiting.
func TestTrackerLoweredThreshold(t *testing.T) {
	t.Parallel()
	tr := newTracker(t, logical.NewInmemStorage(), newClock(), Options{})
	k := Key{"acc", "alice"}
	for range 2 {
		_ = attempt(t, tr, k, testCfg, Failed)
	}
	lower := testCfg
	lower.Threshold = 2
	if err := tr.Acquire(context.Background(), k, lower); !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v", err)
	}
}

// countingStorage counts writes.
type countingStorage struct {
	logical.Storage
	puts int
}

func (s *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	s.puts++
	return s.Storage.Put(ctx, e)
}
