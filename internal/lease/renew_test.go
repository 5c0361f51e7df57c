package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRenew(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		query     map[string]any
		owner     Owner
		after     time.Duration // clock advance before renewing
		increment time.Duration
		wantTTL   time.Duration
		warning   bool
	}{
		"engine ttl":                    {nil, Owner{}, 10 * time.Minute, 0, time.Hour, false},
		"increment wins":                {nil, Owner{}, 10 * time.Minute, 3 * time.Hour, 3 * time.Hour, false},
		"capped by secret max_ttl":      {map[string]any{"max_ttl": "2h"}, Owner{}, 30 * time.Minute, 5 * time.Hour, 90 * time.Minute, true},
		"capped by mount max_lease_ttl": {nil, Owner{}, 50 * time.Minute, 30 * time.Hour, 24*time.Hour - 50*time.Minute, true},
		"capped by batch token":         {nil, Owner{Expire: t0.Add(2 * time.Hour)}, 30 * time.Minute, 5 * time.Hour, 90 * time.Minute, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sec, user := h.issue("creds", tc.owner, tc.query)
			h.clock.Advance(tc.after)
			resp, err := h.m.Renew(context.Background(), sec.LeaseID, tc.increment)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Secret.LeaseID != sec.LeaseID || resp.Secret.TTL != tc.wantTTL || !resp.Secret.Renewable {
				t.Fatalf("renewed secret %+v, want ttl %s", resp.Secret, tc.wantTTL)
			}
			if resp.Secret.InternalData != nil {
				t.Fatal("a renewal response carries the internal data")
			}
			if got := len(resp.Warnings) > 0; got != tc.warning {
				t.Fatalf("warnings %q, want some: %v", resp.Warnings, tc.warning)
			}
			now := t0.Add(tc.after)
			info, _ := h.m.Lookup(context.Background(), sec.LeaseID)
			if !info.ExpireTime.Equal(now.Add(tc.wantTTL)) || !info.LastRenewal.Equal(now) {
				t.Fatalf("after renewal %+v", info)
			}
			e, _ := h.m.load(context.Background(), sec.LeaseID)
			if e.Internal["username"] != user {
				t.Fatalf("internal data lost: %v", e.Internal)
			}
			if at, _ := h.m.q.at(sec.LeaseID); at != now.Add(tc.wantTTL).UnixNano() {
				t.Fatal("the expiry queue did not follow the renewal")
			}
			if !strings.Contains(strings.Join(h.keys(), " "), indexName(now.Add(tc.wantTTL), flagExpiry, sec.LeaseID)) {
				t.Fatalf("the stored index did not follow: %q", h.keys())
			}
			if len(h.keys()) != 2 {
				t.Fatalf("stale keys left: %q", h.keys())
			}
		})
	}
}

// recordingBackend remembers the last request it got.
type recordingBackend struct {
	logical.Backend
	last *logical.Request
}

func (r *recordingBackend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	r.last = req
	return r.Backend.HandleRequest(ctx, req)
}

func TestRenewSendsTheContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := &recordingBackend{Backend: h.mounts.mounts["db/"].backend}
	h.mounts.mounts["db/"].backend = rec
	sec, user := h.issue("creds", Owner{}, nil)
	h.clock.Advance(time.Minute)
	if _, err := h.m.Renew(context.Background(), sec.LeaseID, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	r := rec.last
	if r.Operation != logical.RenewOperation || r.Path != "creds/app" || r.Storage != h.mounts.mounts["db/"].storage {
		t.Fatalf("renew request %+v", r)
	}
	s := r.Secret
	if s.Increment != 2*time.Hour || !s.IssueTime.Equal(t0) || !s.LastRenewalTime.IsZero() || s.InternalData["username"] != user || s.TTL != time.Hour {
		t.Fatalf("renew secret %+v", s)
	}
	h.clock.Advance(time.Minute)
	if err := h.m.Revoke(context.Background(), sec.LeaseID); err != nil {
		t.Fatal(err)
	}
	r = rec.last
	if r.Operation != logical.RevokeOperation || r.Path != "creds/app" || !r.Secret.LastRenewalTime.Equal(t0.Add(time.Minute)) || r.Secret.InternalData["username"] != user {
		t.Fatalf("revoke request %+v %+v", r, r.Secret)
	}
}

func TestRenewRefuses(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		kind    string
		query   map[string]any
		prepare func(h *harness, id string)
		id      func(id string) string
		want    error
	}{
		"unknown lease": {kind: "creds", id: func(string) string { return "db/creds/app/nope" }, want: ErrNotFound},
		"malformed id":  {kind: "creds", id: func(string) string { return "db/../x" }, want: ErrNotFound},
		"not renewable": {kind: "static", want: ErrNotRenewable},
		"expired":       {kind: "creds", prepare: func(h *harness, _ string) { h.clock.Advance(2 * time.Hour) }, want: ErrExpired},
		"being revoked": {kind: "creds", prepare: func(h *harness, id string) { _ = h.m.RevokeLater(context.Background(), id) }, want: ErrExpired},
		"mount max lowered": {kind: "creds", prepare: func(h *harness, _ string) {
			h.mounts.mounts["db/"].info.MaxTTL = 30 * time.Minute
			h.clock.Advance(40 * time.Minute)
		}, want: ErrPastMaxTTL},
		"engine refuses": {kind: "creds", prepare: func(h *harness, id string) { h.eng.FailRevocations(nil); forget(h, id) }, want: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sec, _ := h.issue(tc.kind, Owner{}, tc.query)
			id := sec.LeaseID
			if tc.prepare != nil {
				tc.prepare(h, id)
			}
			if tc.id != nil {
				id = tc.id(id)
			}
			_, err := h.m.Renew(context.Background(), id, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("%v is not a 400", err)
			}
		})
	}
}

// forget makes the engine forget the login of lease id, so that it refuses
// to renew it.
func forget(h *harness, id string) {
	e, _ := h.m.load(context.Background(), id)
	_, _ = h.mounts.HandleLeaseRequest(context.Background(), &logical.Request{Operation: logical.RevokeOperation, Path: e.Path, Secret: e.secret()})
}

func TestRenewPastMaxTTL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	sec, _ := h.issue("creds", Owner{}, map[string]any{"ttl": "2h", "max_ttl": "1h"})
	if sec.TTL != time.Hour {
		t.Fatalf("ttl %s", sec.TTL)
	}
	h.clock.Advance(time.Hour - time.Second)
	resp, err := h.m.Renew(context.Background(), sec.LeaseID, time.Hour)
	if err != nil || resp.Secret.TTL != time.Second {
		t.Fatalf("last second: %+v %v", resp, err)
	}
	h.clock.Advance(time.Second)
	if _, err := h.m.Renew(context.Background(), sec.LeaseID, time.Hour); !errors.Is(err, ErrExpired) {
		t.Fatalf("renewal at the max: %v", err)
	}
}
