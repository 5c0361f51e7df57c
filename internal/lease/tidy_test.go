package lease

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestTidyRepairs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, keep := h.issue("creds", Owner{Token: "a11e"}, nil)
	_, orphan := h.issue("creds", Owner{Token: "9e0"}, nil)
	h.gone["9e0"] = true
	lost, lostUser := h.issue("creds", Owner{}, map[string]any{"ttl": "10m"})
	ctx := context.Background()
	// A lease that lost its index key, an index key and a token index key
	// without a lease, and an index name that does not decode.
	e, _ := h.m.load(ctx, lost.LeaseID)
	mustDo(t, h.storage.Delete(ctx, expPrefix+e.Index))
	mustDo(t, h.storage.Put(ctx, &logical.StorageEntry{Key: expPrefix + indexName(t0, flagExpiry, "db/creds/app/ghost")}))
	mustDo(t, h.storage.Put(ctx, &logical.StorageEntry{Key: tokenKey("a11e", "db/creds/app/ghost"), Value: []byte("db/creds/app/ghost")}))
	mustDo(t, h.storage.Put(ctx, &logical.StorageEntry{Key: expPrefix + "garbage"}))

	res, err := h.m.Tidy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := TidyResult{Scanned: 3, Orphaned: 1, Reindexed: 1, StaleIndex: 2, StaleTokenIndex: 1}
	if res != want {
		t.Fatalf("tidy %+v, want %+v", res, want)
	}
	h.m.SweepDue(ctx)
	if h.eng.Live(orphan) || !h.eng.Live(keep) || !h.eng.Live(lostUser) {
		t.Fatal("tidy must revoke the orphan's lease alone")
	}
	h.clock.Advance(10 * time.Minute)
	h.m.SweepDue(ctx)
	if h.eng.Live(lostUser) {
		t.Fatal("the reindexed lease did not expire")
	}
	if again, _ := h.m.Tidy(ctx); again != (TidyResult{Scanned: 1}) {
		t.Fatalf("a second tidy found %+v", again)
	}
	if keys := h.keys(); len(keys) != 3 || !slices.Contains(keys, tokenKey("a11e", keysOf(t, h)[0])) {
		t.Fatalf("left %q", keys)
	}
}

// keysOf returns the IDs of the stored leases.
func keysOf(t *testing.T, h *harness) []string {
	t.Helper()
	ids, err := h.m.underPrefix(context.Background(), "db/")
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestListAndFailuresLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, _ := h.issue("creds", Owner{}, nil)
	h.issue("static", Owner{}, nil)
	ctx := context.Background()
	cases := map[string]struct {
		prefix string
		want   []string
	}{
		"top":        {"", []string{"db/"}},
		"mount":      {"db/", []string{"creds/", "static/"}},
		"no slash":   {"db/creds/app", []string{a.LeaseID[len("db/creds/app/"):]}},
		"nothing":    {"nope/", []string{}},
		"not a path": {"../", nil},
	}
	for name, tc := range cases {
		got, err := h.m.List(ctx, tc.prefix)
		if (tc.want == nil) != (err != nil) || !slices.Equal(got, tc.want) {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	h.eng.FailRevocations(errDownForList)
	h.clock.Advance(2 * time.Hour)
	h.m.SweepDue(ctx)
	got, more, err := h.m.Failures(ctx, 1)
	if err != nil || !more || len(got) != 1 {
		t.Fatalf("limited failures: %v %v %v", got, more, err)
	}
	all, more, _ := h.m.Failures(ctx, 0)
	if more || len(all) != 2 || all[0].ExpireTime.After(all[1].ExpireTime) {
		t.Fatalf("all failures: %+v", all)
	}
}

var errDownForList = logical.InvalidRequest("backend says no")
