package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/lease/leasetest"
	"github.com/cofferhq/coffer/internal/logical"
)

func TestExpiryRevokes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	short, u1 := h.issue("creds", Owner{Token: "70c"}, map[string]any{"ttl": "10m"})
	long, u2 := h.issue("creds", Owner{Token: "70c"}, map[string]any{"ttl": "1h"})
	h.clock.Advance(10*time.Minute - time.Second)
	if n, f := h.m.SweepDue(context.Background()); n != 0 || f != 0 {
		t.Fatalf("revoked %d (failed %d) before anything expired", n, f)
	}
	h.clock.Advance(time.Second)
	if n, f := h.m.SweepDue(context.Background()); n != 1 || f != 0 {
		t.Fatalf("revoked %d (failed %d), want 1", n, f)
	}
	if h.eng.Live(u1) || !h.eng.Live(u2) {
		t.Fatal("the wrong login was revoked")
	}
	if info, _ := h.m.Lookup(context.Background(), short.LeaseID); info != nil {
		t.Fatal("an expired lease is still there")
	}
	for _, k := range h.keys() {
		if strings.Contains(k, strings.TrimPrefix(short.LeaseID, "db/creds/app/")) || strings.Contains(k, indexName(t0.Add(10*time.Minute), flagExpiry, short.LeaseID)) {
			t.Fatalf("key %q of the revoked lease is left", k)
		}
	}
	if len(h.keys()) != 3 || h.m.Count() != 1 {
		t.Fatalf("left %q, queue %d", h.keys(), h.m.Count())
	}
	_ = long
}

func TestRenewalPostponesExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sec, user := h.issue("creds", Owner{}, map[string]any{"ttl": "10m"})
	h.clock.Advance(9 * time.Minute)
	if _, err := h.m.Renew(context.Background(), sec.LeaseID, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(5 * time.Minute) // past the first expiry, before the new one
	if n, _ := h.m.SweepDue(context.Background()); n != 0 || !h.eng.Live(user) {
		t.Fatal("a renewed lease was revoked at its old expiry")
	}
	h.clock.Advance(5 * time.Minute)
	if n, _ := h.m.SweepDue(context.Background()); n != 1 || h.eng.Live(user) {
		t.Fatal("the renewed lease did not expire at its new expiry")
	}
}

func TestFailedRevocationIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sec, user := h.issue("creds", Owner{}, map[string]any{"ttl": "1m"})
	h.eng.FailRevocations(leasetest.ErrDown)
	h.clock.Advance(time.Minute)
	// Jitter 0: each wait is half of 10s·2^(n-1), capped at 80s.
	wants := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second}
	for i, wait := range wants {
		if n, f := h.m.SweepDue(context.Background()); n != 0 || f != 1 {
			t.Fatalf("attempt %d: revoked %d failed %d", i+1, n, f)
		}
		failed, more, err := h.m.Failures(context.Background(), 0)
		if err != nil || more || len(failed) != 1 {
			t.Fatalf("attempt %d: failures %+v %v", i+1, failed, err)
		}
		f := failed[0]
		if f.ID != sec.LeaseID || f.Attempts != i+1 || f.Accessor != "leasetest_1234" || f.Error != leasetest.ErrDown.Error() || !f.NextAttempt.Equal(h.clock.Now().Add(wait)) {
			t.Fatalf("attempt %d: %+v, want next attempt in %s", i+1, f, wait)
		}
		if n, counts := h.m.FailureCounts(); n != 1 || counts["leasetest_1234"] != 1 {
			t.Fatalf("counts %d %v", n, counts)
		}
		h.clock.Advance(wait - time.Second)
		if n, f := h.m.SweepDue(context.Background()); n+f != 0 {
			t.Fatalf("attempt %d: retried before its backoff", i+1)
		}
		h.clock.Advance(time.Second)
	}
	if _, err := h.m.Renew(context.Background(), sec.LeaseID, 0); !errors.Is(err, ErrExpired) {
		t.Fatalf("a failing lease renewed: %v", err)
	}
	if !strings.Contains(h.logs.String(), "lease revocation failed") || !strings.Contains(h.logs.String(), sec.LeaseID) {
		t.Fatalf("failures are not logged: %s", h.logs)
	}
	if strings.Contains(h.logs.String(), user) {
		t.Fatal("the log holds the lease's internal data")
	}
	h.eng.FailRevocations(nil)
	if n, _ := h.m.SweepDue(context.Background()); n != 1 || h.eng.Live(user) {
		t.Fatal("the lease was not revoked once its mount recovered")
	}
	if n, _ := h.m.FailureCounts(); n != 0 {
		t.Fatal("a revoked lease is still listed as failing")
	}
	if len(h.keys()) != 0 {
		t.Fatalf("left %q", h.keys())
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		n        int
		jitter   float64
		min, max time.Duration
	}{
		"first, no jitter":    {1, 0, 5 * time.Second, 5 * time.Second},
		"first, most jitter":  {1, 0.99, 9 * time.Second, 10 * time.Second},
		"third":               {3, 0.5, 30 * time.Second, 30 * time.Second},
		"capped":              {10, 0.99, 79 * time.Second, 80 * time.Second},
		"shift past 64 bits":  {200, 0.5, 60 * time.Second, 60 * time.Second},
		"never above the cap": {7, 0.999999, 0, 80 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := New(Config{RetryBase: 10 * time.Second, RetryMax: 80 * time.Second, Jitter: func() float64 { return tc.jitter }})
			if d := m.backoff(tc.n); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", tc.n, d, tc.min, tc.max)
			}
		})
	}
}

func TestRevokeSyncFailureKeepsTheLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sec, user := h.issue("creds", Owner{}, nil)
	h.eng.FailRevocations(leasetest.ErrDown)
	err := h.m.Revoke(context.Background(), sec.LeaseID)
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "database is down") {
		t.Fatalf("got %v", err)
	}
	if info, _ := h.m.Lookup(context.Background(), sec.LeaseID); info == nil || info.Renewable {
		t.Fatalf("after a failed revoke: %+v", info)
	}
	if n, _ := h.m.FailureCounts(); n != 1 {
		t.Fatal("the failed revocation is not listed")
	}
	h.eng.FailRevocations(nil)
	h.clock.Advance(5 * time.Second)
	if n, _ := h.m.SweepDue(context.Background()); n != 1 || h.eng.Live(user) {
		t.Fatal("the background retry did not revoke it")
	}
}

func TestRevokeForceRemovesWhatCannotBeRevoked(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, ua := h.issue("creds", Owner{Token: "70c"}, nil)
	h.issue("creds", Owner{Token: "70c"}, nil)
	h.eng.FailRevocations(leasetest.ErrDown)
	if _, err := h.m.RevokePrefix(context.Background(), "db/creds", true, false); err == nil || !strings.Contains(err.Error(), "(1 / 2)") {
		t.Fatalf("sync revoke-prefix on a failing mount: %v", err)
	}
	n, err := h.m.RevokePrefix(context.Background(), "db/creds", true, true)
	if err != nil || n != 2 {
		t.Fatalf("revoke-force: %d %v", n, err)
	}
	if len(h.keys()) != 0 || h.m.Count() != 0 {
		t.Fatalf("revoke-force left %q, queue %d", h.keys(), h.m.Count())
	}
	if c, _ := h.m.FailureCounts(); c != 0 {
		t.Fatal("forced leases still listed as failing")
	}
	if !h.eng.Live(ua) {
		t.Fatal("the engine revoked a secret it was failing to revoke?")
	}
	if !strings.Contains(h.logs.String(), "revoke-force") || !strings.Contains(h.logs.String(), a.LeaseID) {
		t.Fatalf("a forced removal is not logged: %s", h.logs)
	}
}

func TestRevokePrefix(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		prefix  string
		sync    bool
		revoked []string // paths whose leases go
	}{
		"mount":                  {"db/", true, []string{"db/creds/app", "db/creds/app2", "db/static/app"}},
		"mount without slash":    {"db", true, []string{"db/creds/app", "db/creds/app2", "db/static/app"}},
		"a path":                 {"db/creds", true, []string{"db/creds/app", "db/creds/app2"}},
		"a path with its slash":  {"db/creds/", true, []string{"db/creds/app", "db/creds/app2"}},
		"a path, not a string":   {"db/creds/app", true, []string{"db/creds/app"}},
		"nothing under it":       {"other/", true, nil},
		"lazily, for the expiry": {"db/creds", false, []string{"db/creds/app", "db/creds/app2"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			users := map[string]string{}
			for _, p := range []string{"db/creds/app", "db/creds/app2", "db/static/app"} {
				resp, err := h.mounts.HandleLeaseRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: p})
				if err != nil {
					t.Fatal(err)
				}
				if err := h.m.Register(context.Background(), p, Owner{}, resp.Secret); err != nil {
					t.Fatal(err)
				}
				users[p] = resp.Data["username"].(string)
			}
			n, err := h.m.RevokePrefix(context.Background(), tc.prefix, tc.sync, false)
			if err != nil || n != len(tc.revoked) {
				t.Fatalf("revoked %d, %v; want %d", n, err, len(tc.revoked))
			}
			if !tc.sync {
				h.m.SweepDue(context.Background())
			}
			for p, u := range users {
				if want := !slices.Contains(tc.revoked, p); h.eng.Live(u) != want {
					t.Errorf("%s: live %v, want %v", p, h.eng.Live(u), want)
				}
			}
		})
	}
}

func TestRevokePrefixOfOneLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, ua := h.issue("creds", Owner{}, nil)
	_, ub := h.issue("creds", Owner{}, nil)
	if n, err := h.m.RevokePrefix(context.Background(), a.LeaseID, true, false); err != nil || n != 1 {
		t.Fatalf("%d %v", n, err)
	}
	if h.eng.Live(ua) || !h.eng.Live(ub) {
		t.Fatal("a lease ID as prefix must revoke that lease alone")
	}
}

func TestRevokeByToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, a1 := h.issue("creds", Owner{Token: "aa"}, nil)
	_, a2 := h.issue("static", Owner{Token: "aa"}, nil)
	_, b1 := h.issue("creds", Owner{Token: "bb"}, nil)
	_, none := h.issue("creds", Owner{}, nil)
	n, err := h.m.RevokeByToken(context.Background(), "aa")
	if err != nil || n != 2 {
		t.Fatalf("%d %v", n, err)
	}
	if got, _ := h.m.SweepDue(context.Background()); got != 2 {
		t.Fatalf("swept %d", got)
	}
	if h.eng.Live(a1) || h.eng.Live(a2) || !h.eng.Live(b1) || !h.eng.Live(none) {
		t.Fatal("revoking token A must revoke exactly A's leases")
	}
	for _, k := range h.keys() {
		if strings.HasPrefix(k, tokenPrefix+"aa/") {
			t.Fatalf("token index key %q left", k)
		}
	}
	for _, hash := range []string{"", "aa/../bb", "nobody"} {
		if n, err := h.m.RevokeByToken(context.Background(), hash); n != 0 || err != nil {
			t.Fatalf("%q: %d %v", hash, n, err)
		}
	}
}

func TestRevokeUnknownIsNotAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, id := range []string{"db/creds/app/nope", "../x", ""} {
		if err := h.m.Revoke(context.Background(), id); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if err := h.m.RevokeLater(context.Background(), id); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
	}
}

func TestManyExpireTogether(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 200 {
		h.issue("creds", Owner{Token: fmt.Sprint("7", i%7)}, map[string]any{"ttl": fmt.Sprint(60 + i%5)})
	}
	h.clock.Advance(time.Hour)
	if n, f := h.m.SweepDue(context.Background()); n != 200 || f != 0 || h.eng.LiveCount() != 0 || len(h.keys()) != 0 {
		t.Fatalf("revoked %d failed %d live %d keys %d", n, f, h.eng.LiveCount(), len(h.keys()))
	}
}

func TestRevokeFailureKeepsTheEnginesKind(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		engineErr error
		want      error
	}{
		"upstream down": {logical.CodedError(logical.ErrUpstream, `database "pg" is unavailable`), logical.ErrUpstream},
		"plain error":   {leasetest.ErrDown, logical.ErrInvalidRequest},
		"user error":    {logical.InvalidRequest("no such role"), logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sec, _ := h.issue("creds", Owner{}, nil)
			h.eng.FailRevocations(tc.engineErr)
			err := h.m.Revoke(context.Background(), sec.LeaseID)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), errText(tc.engineErr)) {
				t.Fatalf("sync revoke: %v, want %v", err, tc.want)
			}
			_, err = h.m.RevokePrefix(context.Background(), "db/", true, false)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "(1 / 1)") {
				t.Fatalf("revoke-prefix: %v, want %v", err, tc.want)
			}
		})
	}
}
