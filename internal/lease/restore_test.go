package lease

import (
	"context"
	"testing"
	"time"
)

// waitRestored waits for a started manager's queue to be rebuilt. The
// restore is a listing of in-memory keys; the deadline only stops a hang.
func waitRestored(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !m.Restored() {
		if time.Now().After(deadline) {
			t.Fatal("the expiry index was never restored")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRestartRestoresExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, early := h.issue("creds", Owner{Token: "70c"}, map[string]any{"ttl": "10m"})
	_, late := h.issue("creds", Owner{Token: "70c"}, map[string]any{"ttl": "2h"})
	failing, failer := h.issue("static", Owner{}, map[string]any{"ttl": "5m"})
	h.eng.FailNextRevocations(1)
	h.clock.Advance(5 * time.Minute)
	if _, f := h.m.SweepDue(context.Background()); f != 1 {
		t.Fatal("the failing revocation did not fail")
	}

	// A new manager over the same storage, as after a restart.
	m2 := h.newManager(h.storage)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m2.Start(ctx)
	defer m2.Stop()
	waitRestored(t, m2)
	if m2.Count() != 3 {
		t.Fatalf("restored %d leases, want 3", m2.Count())
	}
	failed, _, err := m2.Failures(context.Background(), 0)
	if err != nil || len(failed) != 1 || failed[0].ID != failing.LeaseID || failed[0].Attempts != 1 {
		t.Fatalf("failures after restart: %+v %v", failed, err)
	}
	h.clock.Advance(5 * time.Minute) // 10m: the early lease and the retry are due
	m2.SweepDue(context.Background())
	if h.eng.Live(early) || h.eng.Live(failer) || !h.eng.Live(late) {
		t.Fatalf("after restart: early %v failer %v late %v", h.eng.Live(early), h.eng.Live(failer), h.eng.Live(late))
	}
	if n, err := m2.RevokeByToken(context.Background(), "70c"); n != 1 || err != nil {
		t.Fatalf("the token index did not survive: %d %v", n, err)
	}
}

func TestStartStopOnDemand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 5 {
		h.issue("creds", Owner{}, nil)
	}
	if h.m.Running() || h.m.Restored() {
		t.Fatal("a new manager runs")
	}
	ctx := context.Background()
	h.m.Start(ctx)
	h.m.Start(ctx) // again: nothing happens
	waitRestored(t, h.m)
	if !h.m.Running() || h.m.Count() != 5 {
		t.Fatalf("running %v count %d", h.m.Running(), h.m.Count())
	}
	h.m.Stop()
	h.m.Stop()
	if h.m.Running() || h.m.Restored() || h.m.Count() != 0 {
		t.Fatalf("after Stop: running %v restored %v count %d", h.m.Running(), h.m.Restored(), h.m.Count())
	}
	if h.m.StartTidy() {
		t.Fatal("a stopped manager started a tidy")
	}
	h.issue("creds", Owner{}, nil) // storage keeps working while stopped
	h.m.Start(ctx)
	waitRestored(t, h.m)
	if h.m.Count() != 6 {
		t.Fatalf("restarted with %d", h.m.Count())
	}
	h.m.Stop()
}

func TestExpiryLoopRevokesWithoutAsking(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.m = New(Config{Storage: h.storage, Mounts: h.mounts}) // the real clock
	resp, _ := h.mounts.HandleLeaseRequest(context.Background(), readReq("db/creds/app", map[string]any{"ttl": "1"}))
	user := resp.Data["username"].(string)
	if err := h.m.Register(context.Background(), "db/creds/app", Owner{}, resp.Secret); err != nil {
		t.Fatal(err)
	}
	h.m.Start(context.Background())
	defer h.m.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for h.eng.Live(user) {
		if time.Now().After(deadline) {
			t.Fatal("the expiry loop never revoked the lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQueueRestoreNeverUndoesLaterChanges(t *testing.T) {
	t.Parallel()
	q := newQueue()
	q.set("stale", 1)
	q.beginRestore()
	if q.len() != 0 {
		t.Fatal("beginRestore kept old items")
	}
	q.set("renewed", 50)
	q.set("revoked", 5)
	q.drop("revoked")
	cases := map[string]struct {
		at   int64
		want bool
	}{
		"renewed": {10, false},
		"revoked": {10, false},
		"other":   {10, true},
	}
	for id, tc := range cases {
		if got := q.restore(id, tc.at); got != tc.want {
			t.Fatalf("restore(%s) = %v", id, got)
		}
	}
	q.endRestore()
	if at, _ := q.at("renewed"); at != 50 {
		t.Fatalf("renewed at %d", at)
	}
	if _, ok := q.at("revoked"); ok {
		t.Fatal("a revoked lease came back")
	}
	if q.restore("late", 1) != true {
		t.Fatal("after endRestore nothing is remembered")
	}
}

func TestRestoreWhileServing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 300 {
		h.issue("creds", Owner{}, nil)
	}
	m2 := h.newManager(h.storage)
	h.m = m2
	m2.Start(context.Background())
	defer m2.Stop()
	// Registrations and revocations racing the restore.
	var revoked []string
	for range 20 {
		sec, user := h.issue("creds", Owner{}, nil)
		if err := m2.Revoke(context.Background(), sec.LeaseID); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, user)
	}
	waitRestored(t, m2)
	if m2.Count() != 300 {
		t.Fatalf("queue %d, want 300", m2.Count())
	}
	for _, u := range revoked {
		if h.eng.Live(u) {
			t.Fatal("a revoked login is live")
		}
	}
}
