package lease

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestMovePrefixFollowsARemount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ok, okUser := h.issue("creds", Owner{Token: "70c"}, nil)
	bad, badUser := h.issue("static", Owner{}, map[string]any{"ttl": "1m"})
	h.eng.FailNextRevocations(1)
	h.clock.Advance(time.Minute)
	h.m.SweepDue(context.Background()) // bad now failing
	h.mounts.move("db/", "db2/")

	for run := range 2 { // idempotent: the second run finds nothing to move
		n, err := h.m.MovePrefix(context.Background(), "db/", "db2/")
		if err != nil || n != 2-2*run {
			t.Fatalf("run %d: moved %d, %v", run, n, err)
		}
	}
	newOK := "db2/" + strings.TrimPrefix(ok.LeaseID, "db/")
	newBad := "db2/" + strings.TrimPrefix(bad.LeaseID, "db/")
	if info, _ := h.m.Lookup(context.Background(), ok.LeaseID); info != nil {
		t.Fatal("the old lease ID still answers")
	}
	info, _ := h.m.Lookup(context.Background(), newOK)
	if info == nil || !info.ExpireTime.Equal(t0.Add(time.Hour)) || !info.IssueTime.Equal(t0) {
		t.Fatalf("moved lease: %+v", info)
	}
	if _, err := h.m.Renew(context.Background(), newOK, 0); err != nil {
		t.Fatalf("renew through the new mount: %v", err)
	}
	failed, _, _ := h.m.Failures(context.Background(), 0)
	if len(failed) != 1 || failed[0].ID != newBad || failed[0].Path != "db2/static/app" || failed[0].Attempts != 1 {
		t.Fatalf("failure state did not follow: %+v", failed)
	}
	h.clock.Advance(time.Minute)
	h.m.SweepDue(context.Background())
	if h.eng.Live(badUser) {
		t.Fatal("the failing lease was not retried at its new path")
	}
	if n, _ := h.m.RevokeByToken(context.Background(), "70c"); n != 1 {
		t.Fatal("the token index did not follow")
	}
	h.m.SweepDue(context.Background())
	if h.eng.Live(okUser) || len(h.keys()) != 0 {
		t.Fatalf("left %q", h.keys())
	}
}

func TestMovePrefixIgnoresNonsense(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.issue("creds", Owner{}, nil)
	cases := map[string][2]string{
		"same":        {"db/", "db/"},
		"no slash":    {"db", "db2"},
		"other mount": {"x/", "y/"},
	}
	for name, c := range cases {
		if n, err := h.m.MovePrefix(context.Background(), c[0], c[1]); n != 0 || err != nil {
			t.Fatalf("%s: %d %v", name, n, err)
		}
	}
	if n, err := h.m.MovePrefix(context.Background(), "db/", "../x/"); n != 0 || err == nil {
		t.Fatalf("an unclean destination: %d %v", n, err)
	}
}
