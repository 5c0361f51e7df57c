package quota

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// fakeClock is a clock the test moves by hand, so no test depends on how
// fast the machine is.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestManager(t *testing.T, s logical.Storage, quotas ...Quota) (*Manager, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := New(s)
	m.now = clock.now
	for _, q := range quotas {
		if err := m.Put(context.Background(), q); err != nil {
			t.Fatalf("put %q: %v", q.Name, err)
		}
	}
	return m, clock
}

// allowed counts how many of n requests pass at the current instant.
func allowed(m *Manager, path, ip string, n int) int {
	got := 0
	for range n {
		if ok, _, _ := m.Allow(path, ip); ok {
			got++
		}
	}
	return got
}

func TestNoQuotaAllowsEverything(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage())
	if got := allowed(m, "secret/data/x", "10.0.0.1", 1000); got != 1000 {
		t.Fatalf("allowed %d of 1000", got)
	}
}

func TestRateRefillsWithTime(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "q", Path: "secret/", Rate: 2})
	if got := allowed(m, "secret/data/x", "a", 10); got != 2 {
		t.Fatalf("allowed %d in one instant, want the burst of 2", got)
	}
	ok, wait, name := m.Allow("secret/data/x", "a")
	if ok || name != "q" || wait != 500*time.Millisecond {
		t.Fatalf("over the rate: ok=%v wait=%v name=%q", ok, wait, name)
	}
	if got := allowed(m, "secret/data/x", "b", 10); got != 2 {
		t.Fatalf("another client allowed %d, want its own 2", got)
	}
	if got := allowed(m, "other/x", "a", 10); got != 10 {
		t.Fatalf("another mount allowed %d of 10", got)
	}
	clock.advance(500 * time.Millisecond)
	if got := allowed(m, "secret/data/x", "a", 10); got != 1 {
		t.Fatalf("after half an interval allowed %d, want 1", got)
	}
	clock.advance(time.Second)
	if got := allowed(m, "secret", "a", 10); got != 2 {
		t.Fatalf("the mount path itself: allowed %d after a full interval, want 2", got)
	}
}

func TestIntervalAndFractionalRate(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "slow", Rate: 0.5, Interval: time.Minute})
	if got := allowed(m, "x", "a", 5); got != 1 {
		t.Fatalf("allowed %d, want 1", got)
	}
	if _, wait, _ := m.Allow("x", "a"); wait != 2*time.Minute {
		t.Fatalf("wait %v, want 2m for half a request per minute", wait)
	}
	clock.advance(2 * time.Minute)
	if got := allowed(m, "x", "a", 5); got != 1 {
		t.Fatalf("after 2m allowed %d, want 1", got)
	}
}

func TestMostSpecificQuotaWins(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage(),
		Quota{Name: "global", Rate: 1},
		Quota{Name: "mount", Path: "secret/", Rate: 3},
		Quota{Name: "glob", Path: "secret/data/team/*", Rate: 4},
		Quota{Name: "exact", Path: "secret/data/x", Rate: 5},
	)
	cases := map[string]struct {
		path      string
		wantCount int
		wantQuota string
	}{
		"exact path":      {"secret/data/x", 5, "exact"},
		"exact trailing":  {"secret/data/x/", 5, "exact"},
		"glob":            {"secret/data/team/a", 4, "glob"},
		"mount":           {"secret/data/y", 3, "mount"},
		"exact is exact":  {"secret/data/xy", 3, "mount"},
		"global":          {"other/data/y", 1, "global"},
		"global for sys/": {"sys/mounts", 1, "global"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ip := "client-" + name
			if got := allowed(m, tc.path, ip, 20); got != tc.wantCount {
				t.Fatalf("allowed %d, want %d", got, tc.wantCount)
			}
			if ok, _, q := m.Allow(tc.path, ip); ok || q != tc.wantQuota {
				t.Fatalf("refused by %q (ok=%v), want %q", q, ok, tc.wantQuota)
			}
		})
	}
}

func TestBlockInterval(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "b", Rate: 1, BlockInterval: 10 * time.Second})
	if got := allowed(m, "x", "a", 1); got != 1 {
		t.Fatal("first request refused")
	}
	if ok, wait, _ := m.Allow("x", "a"); ok || wait != 10*time.Second {
		t.Fatalf("over the rate: ok=%v wait=%v", ok, wait)
	}
	clock.advance(4 * time.Second)
	if ok, wait, _ := m.Allow("x", "a"); ok || wait != 6*time.Second {
		t.Fatalf("while blocked: ok=%v wait=%v, want 6s left", ok, wait)
	}
	clock.advance(6 * time.Second)
	if got := allowed(m, "x", "a", 1); got != 1 {
		t.Fatal("still blocked after the block interval")
	}
}

func TestExemptPaths(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "g", Rate: 1})
	if err := m.SetConfig(context.Background(), Config{ExemptPaths: []string{"sys/mounts", "/secret/data/open/*", " ", "!secret/data/open/closed", "auth/*"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"sys/mounts", "secret/data/open/*", "!secret/data/open/closed", "auth/*"}
	if got := m.Config().ExemptPaths; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("exempt paths stored as %q, want %q", got, want)
	}
	// As Vault's path manager: every entry is a prefix, the longest match
	// decides, and '!' marks an exception.
	cases := map[string]struct {
		path   string
		exempt bool
	}{
		"exact entry":               {"sys/mounts", true},
		"under an entry":            {"sys/mounts/secret", true},
		"prefix of the name":        {"sys/mountsx", true},
		"glob":                      {"secret/data/open/a", true},
		"exception":                 {"secret/data/open/closed", false},
		"under the exception":       {"secret/data/open/closed/x", false},
		"not covered":               {"secret/data/shut", false},
		"glob with nothing after":   {"auth/", true},
		"always exempt: quotas":     {"sys/quotas/rate-limit/g", true},
		"always exempt: quota list": {"sys/quotas/rate-limit/", true},
		"always exempt: config":     {"sys/quotas/config", true},
		"always exempt: gen root":   {"sys/generate-root/attempt", true},
		"not the policy endpoints":  {"sys/policies/acl/x", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := 1
			if tc.exempt {
				want = 10
			}
			if got := allowed(m, tc.path, "client-"+name, 10); got != want {
				t.Fatalf("%s: allowed %d of 10, want %d", tc.path, got, want)
			}
		})
	}
}

// TestQuotaEndpointsAlwaysExempt is the lock-out of issue 5: a global
// quota of one request in a million seconds, with the exempt list emptied
// (or turned against the quota endpoints by an exception), must still let
// every client reach sys/quotas to remove it.
func TestQuotaEndpointsAlwaysExempt(t *testing.T) {
	t.Parallel()
	for name, exempt := range map[string][]string{
		"defaults":            nil,
		"emptied":             {},
		"excepted":            {"!sys/quotas/", "!sys/"},
		"only something else": {"auth/*"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "absurd", Rate: 0.000001})
			if err := m.SetConfig(context.Background(), Config{ExemptPaths: exempt}); err != nil {
				t.Fatal(err)
			}
			if got := allowed(m, "secret/data/x", "root", 3); got != 1 {
				t.Fatalf("the absurd quota allowed %d of 3 ordinary requests, want 1", got)
			}
			for _, p := range []string{"sys/quotas/rate-limit/absurd", "sys/quotas/rate-limit/", "sys/quotas/config", "sys/unseal", "sys/seal-status", "sys/health", "sys/init", "sys/generate-root/update"} {
				if got := allowed(m, p, "root", 5); got != 5 {
					t.Fatalf("%s: allowed %d of 5 under the absurd quota", p, got)
				}
			}
		})
	}
}

func TestDefaultExemptPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := logical.NewInmemStorage()
	m, _ := newTestManager(t, s, Quota{Name: "g", Rate: 1})
	if got := m.Config().ExemptPaths; fmt.Sprint(got) != fmt.Sprint(DefaultExemptPaths) {
		t.Fatalf("a new manager reports %q, want Vault's defaults %q", got, DefaultExemptPaths)
	}
	// Vault's own defaults are in the list.
	for _, p := range []string{"sys/generate-recovery-token/attempt", "sys/generate-recovery-token/update", "sys/generate-root/attempt", "sys/generate-root/update", "sys/health", "sys/seal-status", "sys/unseal"} {
		if !strings.Contains(fmt.Sprint(DefaultExemptPaths), p) {
			t.Fatalf("DefaultExemptPaths lacks Vault's %s", p)
		}
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.Config().ExemptPaths; len(got) != len(DefaultExemptPaths) {
		t.Fatalf("loaded with nothing stored: %q", got)
	}
	// An operator's empty list is kept as written, not replaced by the
	// defaults, across a reload.
	if err := m.SetConfig(ctx, Config{ExemptPaths: []string{}}); err != nil {
		t.Fatal(err)
	}
	again := New(s)
	if err := again.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := again.Config().ExemptPaths; got == nil || len(got) != 0 {
		t.Fatalf("an emptied list came back as %q", got)
	}
	m.Reset()
	if got := m.Config().ExemptPaths; len(got) != len(DefaultExemptPaths) {
		t.Fatalf("after reset: %q", got)
	}
}

func TestTakeCounts(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "q", Path: "secret/", Rate: 3, Interval: time.Minute})
	if d := m.Take("secret/x", "a"); !d.Allowed || d.Headers || !d.Counted || d.Limit != 3 || d.Remaining != 2 || d.Reset != 20*time.Second || d.Quota != "q" {
		t.Fatalf("first request: %+v", d)
	}
	if err := m.SetConfig(context.Background(), Config{ResponseHeaders: true}); err != nil {
		t.Fatal(err)
	}
	m.Take("secret/x", "a")
	d := m.Take("secret/x", "a")
	if !d.Allowed || !d.Headers || d.Remaining != 0 || d.Reset != time.Minute {
		t.Fatalf("third request: %+v", d)
	}
	d = m.Take("secret/x", "a")
	if d.Allowed || !d.Counted || d.Remaining != 0 || d.RetryAfter != 20*time.Second || d.Reset != time.Minute {
		t.Fatalf("over the rate: %+v", d)
	}
	clock.advance(30 * time.Second)
	if d := m.Take("secret/x", "a"); !d.Allowed || d.Remaining != 0 || d.Reset != 50*time.Second {
		t.Fatalf("after 30s: %+v", d)
	}
	for name, path := range map[string]string{"uncovered": "other/x", "exempt": "sys/health"} {
		if d := m.Take(path, "a"); !d.Allowed || d.Counted || d.Quota != "" {
			t.Fatalf("%s: %+v", name, d)
		}
	}
}

func TestTakeWhileBlocked(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "b", Rate: 1, BlockInterval: time.Hour})
	m.Take("x", "a")
	if d := m.Take("x", "a"); d.Allowed || !d.Counted || d.RetryAfter != time.Hour {
		t.Fatalf("the refusal that blocks: %+v", d)
	}
	// As Vault: a blocked client is told only when to come back.
	if d := m.Take("x", "a"); d.Allowed || d.Counted || d.RetryAfter != time.Hour || d.Quota != "b" {
		t.Fatalf("while blocked: %+v", d)
	}
}

func TestCheckInheritable(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	cases := map[string]struct {
		path    string
		req     *bool
		wantErr string
	}{
		"global, left out":  {"", nil, ""},
		"global, true":      {"", &yes, ""},
		"global, false":     {"", &no, "all global quotas must be inheritable"},
		"mount, left out":   {"secret/", nil, ""},
		"mount, true":       {"secret/", &yes, "only namespace quotas can be configured as inheritable"},
		"mount, false":      {"secret/", &no, "all global quotas must be inheritable"},
		"sub-path, true":    {"secret/data/x", &yes, "only namespace quotas can be configured as inheritable"},
		"sub-path, omitted": {"secret/data/*", nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckInheritable(tc.path, tc.req)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, logical.ErrInvalidRequest) || err.Error() != tc.wantErr {
				t.Fatalf("got %v, want the 400 %q", err, tc.wantErr)
			}
		})
	}
	for _, p := range []string{"", "secret/"} {
		q, err := Normalize(Quota{Name: "q", Rate: 1, Path: p})
		if err != nil || !q.Inheritable {
			t.Fatalf("path %q normalised to inheritable=%v (%v); Vault's root namespace makes every quota inheritable", p, q.Inheritable, err)
		}
	}
}

func TestPersistenceAndReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := logical.NewInmemStorage()
	m, _ := newTestManager(t, s, Quota{Name: "q1", Path: "secret/", Rate: 2, BlockInterval: time.Minute}, Quota{Name: "q2", Rate: 9})
	if err := m.SetConfig(ctx, Config{ResponseHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "q2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "never-was"); err != nil {
		t.Fatalf("deleting a missing quota: %v", err)
	}
	m.Reset()
	if got := m.List(); len(got) != 0 {
		t.Fatalf("after reset: %q", got)
	}
	if ok, _, _ := m.Allow("secret/x", "a"); !ok {
		t.Fatal("a reset manager still limits")
	}
	again, _ := newTestManager(t, s)
	if err := again.Load(ctx); err != nil {
		t.Fatal(err)
	}
	q, found := again.Get("q1")
	want := Quota{Name: "q1", Type: TypeRateLimit, Path: "secret/", Rate: 2, Interval: time.Second, BlockInterval: time.Minute, Inheritable: true}
	if !found || q != want {
		t.Fatalf("loaded %+v (found %v), want %+v", q, found, want)
	}
	if names := again.List(); len(names) != 1 || !again.Config().ResponseHeaders {
		t.Fatalf("loaded names %q config %+v", names, again.Config())
	}
}

func TestChangingAQuotaRestartsOnlyIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "a", Path: "a/", Rate: 1}, Quota{Name: "b", Path: "b/", Rate: 1})
	allowed(m, "a/x", "ip", 1)
	allowed(m, "b/x", "ip", 1)
	if err := m.Put(ctx, Quota{Name: "a", Path: "a/", Rate: 3}); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, Quota{Name: "b", Path: "b/", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	if got := allowed(m, "a/x", "ip", 10); got != 3 {
		t.Fatalf("changed quota allowed %d, want a fresh 3", got)
	}
	if got := allowed(m, "b/x", "ip", 10); got != 0 {
		t.Fatalf("unchanged quota allowed %d, want its spent bucket kept", got)
	}
}

func TestPutRejects(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "taken", Path: "secret/", Rate: 1})
	cases := map[string]Quota{
		"no name":          {Rate: 1},
		"slash in name":    {Name: "a/b", Rate: 1},
		"zero rate":        {Name: "q", Rate: 0},
		"negative rate":    {Name: "q", Rate: -1},
		"unknown type":     {Name: "q", Type: "lease-count", Rate: 1},
		"negative block":   {Name: "q", Rate: 1, BlockInterval: -time.Second},
		"glob in middle":   {Name: "q", Path: "secret/*/x", Rate: 1},
		"bare glob":        {Name: "q", Path: "*", Rate: 1},
		"dotdot":           {Name: "q", Path: "secret/../sys/", Rate: 1},
		"same path as one": {Name: "q", Path: "/secret//", Rate: 1},
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			err := m.Put(context.Background(), q)
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("err %v, want an invalid request", err)
			}
		})
	}
	if got := m.List(); len(got) != 1 {
		t.Fatalf("a rejected put was stored: %q", got)
	}
}

func TestClientsAreBounded(t *testing.T) {
	t.Parallel()
	m, clock := newTestManager(t, logical.NewInmemStorage())
	m.maxClients = 3
	if err := m.Put(context.Background(), Quota{Name: "q", Rate: 1}); err != nil {
		t.Fatal(err)
	}
	r := m.snap.Load().rules[0]
	for i := range 10 {
		m.Allow("x", fmt.Sprint("ip", i))
	}
	if n := r.tracked(); n != 3 {
		t.Fatalf("tracking %d clients, want the cap of 3", n)
	}
	// ip9 was seen last and is still limited; ip0 was forgotten.
	if ok, _, _ := m.Allow("x", "ip9"); ok {
		t.Fatal("the most recent client lost its bucket")
	}
	clock.advance(2 * time.Second)
	m.Allow("x", "fresh")
	if n := r.tracked(); n != 1 {
		t.Fatalf("tracking %d clients after they all went idle, want 1", n)
	}
}

func TestClientHost(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ in, want string }{
		"ipv4":         {"192.0.2.1:5555", "192.0.2.1"},
		"ipv6":         {"[2001:db8::1]:443", "2001:db8::1"},
		"no port":      {"192.0.2.1", "192.0.2.1"},
		"bare ipv6":    {"2001:db8::1", "2001:db8::1"},
		"empty":        {"", ""},
		"unix socket":  {"@", "@"},
		"host no port": {"[::1]", "[::1]"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ClientHost(tc.in); got != tc.want {
				t.Fatalf("ClientHost(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	m, _ := newTestManager(t, logical.NewInmemStorage(), Quota{Name: "q", Path: "secret/", Rate: 1e6})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m.Allow("secret/data/x", fmt.Sprint("ip", g, i%7))
			}
		}()
	}
	for i := range 50 {
		if err := m.Put(context.Background(), Quota{Name: "q", Path: "secret/", Rate: float64(1e6 + i)}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}
