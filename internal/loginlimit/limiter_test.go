package loginlimit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(burst int, refill time.Duration) (*Limiter, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	return New(Config{Burst: burst, Refill: refill, Now: clk.Now}), clk
}

func TestBurstThenRefused(t *testing.T) {
	t.Parallel()
	l, clk := newLimiter(3, 2*time.Second)
	for i := range 3 {
		if err := l.Allow("r", "10.0.0.1:5000"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		l.Fail("r", "10.0.0.1:5000")
	}
	err := l.Allow("r", "10.0.0.1:6000") // another port, same client
	var rl *logical.RateLimitedError
	if !errors.As(err, &rl) || !errors.Is(err, logical.ErrRateLimited) {
		t.Fatalf("4th attempt: %v", err)
	}
	if rl.RetryAfter != 2*time.Second || !strings.Contains(err.Error(), `role "r"`) || !strings.Contains(err.Error(), "2 seconds") {
		t.Fatalf("retry after %v, message %q", rl.RetryAfter, err)
	}
	clk.Advance(1999 * time.Millisecond)
	if l.Allow("r", "10.0.0.1:1") == nil {
		t.Fatal("allowed before the count drained")
	}
	clk.Advance(time.Millisecond)
	if err := l.Allow("r", "10.0.0.1:1"); err != nil {
		t.Fatalf("still refused after Retry-After: %v", err)
	}
	l.Fail("r", "10.0.0.1:1")
	if l.Allow("r", "10.0.0.1:1") == nil {
		t.Fatal("one drained failure allowed more than one attempt")
	}
}

// TestOthersUnaffected: the count is per (role, address); good logins,
// which record nothing, are never refused.
func TestOthersUnaffected(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(2, time.Minute)
	for range 5 {
		l.Fail("r", "10.0.0.1:1")
	}
	cases := map[string]struct {
		role, addr string
		refused    bool
	}{
		"same pair":          {role: "r", addr: "10.0.0.1:9", refused: true},
		"same pair, no port": {role: "r", addr: "10.0.0.1", refused: true},
		"other role":         {role: "s", addr: "10.0.0.1:1"},
		"other address":      {role: "r", addr: "10.0.0.2:1"},
		"ipv6 client":        {role: "r", addr: "[::1]:1"},
		"no address":         {role: "r", addr: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := l.Allow(tc.role, tc.addr); (err != nil) != tc.refused {
				t.Fatalf("refused=%v, want %v", err != nil, tc.refused)
			}
		})
	}
	good, _ := newLimiter(1, time.Hour)
	for range 1000 {
		if err := good.Allow("r", "10.0.0.1:1"); err != nil {
			t.Fatal("a login that never failed was refused")
		}
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := New(Config{Burst: 1, Refill: time.Second, MaxKeys: 100, Now: clk.Now})
	for i := range 1000 {
		l.Fail("r", fmt.Sprintf("10.0.%d.%d:1", i/256, i%256))
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d pairs remembered, max 100", n)
	}
	// Drained pairs go first: after they drain, new ones fit without
	// throwing out a pair that is still being counted.
	clk.Advance(time.Hour)
	l.Fail("r", "192.168.0.1:1")
	l.Fail("r", "192.168.0.1:1")
	if l.Len() != 1 || l.Allow("r", "192.168.0.1:1") == nil {
		t.Fatalf("len %d; the live pair must be the one kept", l.Len())
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	l := New(Config{Burst: 5, Refill: time.Hour})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				addr := fmt.Sprintf("10.0.0.%d:1", (g+i)%4)
				if l.Allow("r", addr) == nil {
					l.Fail("r", addr)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		if l.Allow("r", fmt.Sprintf("10.0.0.%d:2", i)) == nil {
			t.Fatalf("address %d not limited after hundreds of failures", i)
		}
	}
}

// BenchmarkAllowNoFailures is what a good login pays.
func BenchmarkAllowNoFailures(b *testing.B) {
	l := New(Config{})
	l.Fail("other", "10.0.0.9:1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Allow("role", "10.0.0.1:4000") != nil {
				b.Error("refused")
				return
			}
		}
	})
}

func TestUnknownRoleMessage(t *testing.T) {
	t.Parallel()
	l, _ := newLimiter(1, time.Second)
	l.Fail(UnknownRole, "10.0.0.1:1")
	err := l.Allow(UnknownRole, "10.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "too many failed logins to roles that do not exist") || strings.Contains(err.Error(), "\x00") {
		t.Fatalf("err = %q", err)
	}
}
