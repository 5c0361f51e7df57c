package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// gated is a recorder that is also a Gate, answering with canned values.
type gated struct {
	recorder
	unauth bool
	err    error
	asked  atomic.Int32
}

func (g *gated) Admit(context.Context, *logical.Request) (bool, error) {
	g.asked.Add(1)
	return g.unauth, g.err
}

// countingBody is a request body that counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func TestBodyGateAndCaps(t *testing.T) {
	t.Parallel()
	small := `{"data":{"a":"b"}}`
	big := `{"data":{"a":"` + strings.Repeat("x", 2<<20) + `"}}` // over the 1 MiB unauthenticated cap
	cases := map[string]struct {
		handler    Handler
		token      string
		body       string
		wantStatus int
		wantRead   bool // whether any of the body may be read
		wantData   bool
	}{
		"gate denies: 403, body unread":          {handler: &gated{err: logical.ErrPermissionDenied}, body: big, wantStatus: 403},
		"gate denies with token: body unread":    {handler: &gated{err: logical.ErrPermissionDenied}, token: "t", body: big, wantStatus: 403},
		"gate sealed: 503, body unread":          {handler: &gated{err: logical.ErrSealed}, token: "t", body: big, wantStatus: 503},
		"gate unauthenticated, small":            {handler: &gated{unauth: true}, body: small, wantStatus: 204, wantRead: true, wantData: true},
		"gate unauthenticated, over its cap":     {handler: &gated{unauth: true}, token: "t", body: big, wantStatus: 413},
		"gate admits token, large body":          {handler: &gated{}, token: "t", body: big, wantStatus: 204, wantRead: true, wantData: true},
		"no gate, no token, over the small cap":  {handler: &recorder{}, body: big, wantStatus: 413},
		"no gate, no token, small":               {handler: &recorder{}, body: small, wantStatus: 204, wantRead: true, wantData: true},
		"no gate, token, large body":             {handler: &recorder{}, token: "t", body: big, wantStatus: 204, wantRead: true, wantData: true},
		"gate admits token, empty body":          {handler: &gated{}, token: "t", body: "", wantStatus: 204},
		"gate denies, empty body: core answers":  {handler: &gated{err: logical.ErrPermissionDenied}, body: "", wantStatus: 204},
		"gate admits, whitespace body":           {handler: &gated{}, token: "t", body: "  \n", wantStatus: 204, wantRead: true},
		"gate admits, bad JSON":                  {handler: &gated{}, token: "t", body: `{"a":`, wantStatus: 400, wantRead: true},
		"gate admits, body over listener's max":  {handler: &gated{}, token: "t", body: big + strings.Repeat(" ", 4<<20), wantStatus: 413},
		"gate unauthenticated, chunked over cap": {handler: &gated{unauth: true}, body: "chunked:" + big, wantStatus: 413, wantRead: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := New(tc.handler, Options{MaxRequestSize: 4 << 20})
			chunked := strings.HasPrefix(tc.body, "chunked:")
			cb := &countingBody{r: strings.NewReader(strings.TrimPrefix(tc.body, "chunked:"))}
			req := httptest.NewRequest("PUT", "/v1/secret/data/x", cb)
			req.ContentLength = int64(len(tc.body))
			if chunked {
				req.ContentLength = -1
			}
			if tc.token != "" {
				req.Header.Set("X-Vault-Token", tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.300s", w.Code, tc.wantStatus, w.Body)
			}
			if read := cb.read.Load(); (read > 0) != tc.wantRead {
				t.Fatalf("%d bytes of the body were read; want read: %v", read, tc.wantRead)
			}
			var got *logical.Request
			switch hh := tc.handler.(type) {
			case *gated:
				got = hh.got
			case *recorder:
				got = hh.got
			}
			if tc.wantData && (got == nil || got.Data["data"] == nil) {
				t.Fatalf("the handler got no data: %+v", got)
			}
		})
	}
}

// TestBodyGateSkippedWithoutBody: reads, lists and empty writes never ask
// the gate, so they cost no token lookup on top of the core's own.
func TestBodyGateSkippedWithoutBody(t *testing.T) {
	t.Parallel()
	g := &gated{err: logical.ErrPermissionDenied}
	h := New(g, Options{})
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", "/v1/secret/data/x", nil),
		httptest.NewRequest("LIST", "/v1/secret/metadata/", nil),
		httptest.NewRequest("DELETE", "/v1/secret/data/x", nil),
		httptest.NewRequest("PUT", "/v1/sys/seal", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := g.asked.Load(); n != 0 {
		t.Fatalf("the gate was asked %d times", n)
	}
}

// TestDecodeCostBoundsAllocation checks decodeCost against what decoding
// really allocates, for bodies of many shapes: an estimate below it would
// let concurrent bodies past the budget. Not parallel: it reads the
// process's allocation counter.
func TestDecodeCostBoundsAllocation(t *testing.T) {
	const n = 256 << 10
	rep := func(s string, k int) string { return strings.TrimSuffix(strings.Repeat(s+",", k), ",") }
	keys := func(format string) string {
		var b strings.Builder
		for i := range n / 10 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	shapes := map[string]string{
		"one long string":     `{"data":{"v":"` + strings.Repeat("a", n) + `"}}`,
		"escaped string":      `{"data":{"v":"` + strings.Repeat(`\u00e9\n`, n/8) + `"}}`,
		"zeros":               `{"a":[` + rep("0", n/2) + `]}`,
		"long numbers":        `{"a":[` + rep("123456789012345", n/16) + `]}`,
		"empty objects":       `{"a":[` + rep("{}", n/3) + `]}`,
		"one-key objects":     `{"a":[` + rep(`{"a":1}`, n/8) + `]}`,
		"empty arrays":        `{"a":[` + rep("[]", n/3) + `]}`,
		"one-element arrays":  `{"a":[` + rep("[0]", n/4) + `]}`,
		"booleans":            `{"a":[` + rep("true", n/5) + `]}`,
		"nulls":               `{"a":[` + rep("null", n/5) + `]}`,
		"short strings":       `{"a":[` + rep(`"x"`, n/4) + `]}`,
		"empty strings":       `{"a":[` + rep(`""`, n/3) + `]}`,
		"deep nesting":        `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
		"many keys":           `{"data":{` + keys(`"k%d":"v"`) + `}}`,
		"many numeric values": `{` + keys(`"k%d":1`) + `}`,
		"many objects":        `{` + keys(`"k%d":{"a":"b"}`) + `}`,
		"typical secret":      `{"data":{"username":"app","password":"s3cr3t-` + strings.Repeat("p", 40) + `","url":"postgres://db:5432/app"},"options":{"cas":3}}`,
	}
	for name, body := range shapes {
		raw := []byte(body)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		data, err := decodeObject(raw)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.KeepAlive(data)
		alloc := int64(after.TotalAlloc - before.TotalAlloc)
		t.Logf("%-20s len %8d alloc %10d cost %10d (%.1fx)", name, len(raw), alloc, decodeCost(raw), float64(decodeCost(raw))/float64(alloc))
		if cost := decodeCost(raw); cost < alloc {
			t.Errorf("%s: decodeCost %d < %d bytes allocated decoding %d bytes", name, cost, alloc, len(raw))
		}
	}
}

// FuzzDecodeCost: the estimate never panics, and is never below the
// charge for the text itself, whatever the bytes.
func FuzzDecodeCost(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"\"}"}`, `[[[`, `"\\\\"`, "\xff{", ``, `{"a":[1,2,{"b":null}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if c := decodeCost(raw); c < costFixed+costPerByte*int64(len(raw)) {
			t.Fatalf("decodeCost(%q) = %d", raw, c)
		}
	})
}

// TestBodyTooComplex: a body whose decoding would exceed the decode budget
// is refused with 413 without being decoded, while a body of strings of
// the same size passes.
func TestBodyTooComplex(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := New(rec, Options{MaxRequestSize: 1 << 20})
	dense := `{"a":[0` + strings.Repeat(",0", 500<<10) + `]}`
	strs := `{"a":"` + strings.Repeat("x", 1000<<10) + `"}`
	for body, want := range map[string]int{dense: 413, strs: 204} {
		req := httptest.NewRequest("PUT", "/v1/x", strings.NewReader(body))
		req.Header.Set("X-Vault-Token", "t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("%d-byte body: status %d, want %d: %.200s", len(body), w.Code, want, w.Body)
		}
		if want == 413 && !strings.Contains(w.Body.String(), "MiB") {
			t.Fatalf("message does not say why: %s", w.Body)
		}
	}
}

// TestBodyBudgetBoundsConcurrency: however many bodies arrive at once,
// what they hold never exceeds the budget, and all of them are served.
func TestBodyBudgetBoundsConcurrency(t *testing.T) {
	t.Parallel()
	b := NewBodyBudget(1<<20, nil)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := b.start()
			defer c.release()
			size := int64(100<<10 + i*10<<10)
			if err := c.acquireRead(context.Background(), size); err != nil {
				t.Error(err)
				return
			}
			if err := c.acquireDecode(context.Background(), 6*size); err != nil {
				t.Error(err)
				return
			}
			now := held.Add(7 * size)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
			runtime.Gosched()
			held.Add(-7 * size)
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > b.ReadSize()+b.DecodeSize() {
		t.Fatalf("peak %d over the budget %d", p, b.ReadSize()+b.DecodeSize())
	}
}

// TestBodyBudgetWaitHonoursContext: a request waiting for the budget stops
// when its context ends, and the budget is whole again afterwards.
func TestBodyBudgetWaitHonoursContext(t *testing.T) {
	t.Parallel()
	b := NewBodyBudget(1<<20, nil)
	first := b.start()
	if err := first.acquireRead(context.Background(), 1<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := b.start()
	done := make(chan error)
	go func() { done <- waiting.acquireRead(ctx, 1) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiting request got %v, want context.Canceled", err)
	}
	waiting.release()
	first.release()
	again := b.start()
	defer again.release()
	if !b.read.TryAcquire(1 << 20) {
		t.Fatal("the budget was not given back")
	}
	b.read.Release(1 << 20)
}

// TestBodyBudgetWaitsOverHTTP: with the budget taken, a request's body is
// not read until it is free, and a client that gives up is let go.
func TestBodyBudgetWaitsOverHTTP(t *testing.T) {
	t.Parallel()
	b := NewBodyBudget(1<<20, nil)
	hold := b.start()
	if err := hold.acquireRead(context.Background(), 1<<20); err != nil {
		t.Fatal(err)
	}
	h := New(&recorder{}, Options{MaxRequestSize: 1 << 20, Bodies: b})
	ctx, cancel := context.WithCancel(context.Background())
	cb := &countingBody{r: strings.NewReader(`{"a":"b"}`)}
	req := httptest.NewRequestWithContext(ctx, "PUT", "/v1/x", cb)
	req.Header.Set("X-Vault-Token", "t")
	w := httptest.NewRecorder()
	served := make(chan struct{})
	go func() { h.ServeHTTP(w, req); close(served) }()
	cancel()
	<-served
	if cb.read.Load() != 0 || w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, %d bytes read while the budget was taken", w.Code, cb.read.Load())
	}
	hold.release()
	w = httptest.NewRecorder()
	req = httptest.NewRequest("PUT", "/v1/x", bytes.NewReader([]byte(`{"a":"b"}`)))
	req.Header.Set("X-Vault-Token", "t")
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent {
		t.Fatalf("after the budget was free: status %d", w.Code)
	}
}

// TestBodyBudgetIdleRelease: after large bodies, onIdle runs once the
// budget is idle, not while a body is in flight, and not for small bodies.
func TestBodyBudgetIdleRelease(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	b := NewBodyBudget(32<<20, func() { calls.Add(1) })
	var scheduled []func()
	var delays []time.Duration
	b.after = func(d time.Duration, f func()) { delays = append(delays, d); scheduled = append(scheduled, f) }
	run := func(read, decode int64) *charge {
		c := b.start()
		if err := c.acquireRead(context.Background(), read); err != nil {
			t.Fatal(err)
		}
		if err := c.acquireDecode(context.Background(), decode); err != nil {
			t.Fatal(err)
		}
		return c
	}
	run(1<<10, 6<<10).release()
	if len(scheduled) != 0 {
		t.Fatal("a small body scheduled a release")
	}
	a, c := run(8<<20, 48<<20), run(8<<20, 48<<20)
	a.release()
	if len(scheduled) != 0 {
		t.Fatal("a release was scheduled while a body was in flight")
	}
	c.release()
	if len(scheduled) != 1 || delays[0] != idleDelay {
		t.Fatalf("scheduled %d releases (delays %v), want one after %v", len(scheduled), delays, idleDelay)
	}
	busy := run(1<<10, 1<<10)
	scheduled[0]()
	if calls.Load() != 0 {
		t.Fatal("onIdle ran while a body was in flight")
	}
	busy.release()
	if len(scheduled) != 2 {
		t.Fatalf("the release was not rescheduled when the budget went idle: %d", len(scheduled))
	}
	scheduled[1]()
	if calls.Load() != 1 {
		t.Fatalf("onIdle ran %d times, want 1", calls.Load())
	}
	run(8<<20, 48<<20).release()
	if len(scheduled) != 3 || delays[2] <= idleDelay {
		t.Fatalf("the next release is not spaced from the last: delays %v", delays)
	}
}
