package lease

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/lease/leasetest"
	"github.com/cofferhq/coffer/internal/logical"
)

// clock is a settable clock for the manager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeMount is one mount of the fake mount table.
type fakeMount struct {
	backend logical.Backend
	storage logical.Storage
	info    MountInfo
}

// fakeMounts is a mount table for the manager: longest-prefix routing to
// leasetest backends, each with its own storage.
type fakeMounts struct {
	mu     sync.Mutex
	mounts map[string]*fakeMount
}

func (f *fakeMounts) match(path string) (string, *fakeMount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := ""
	for p := range f.mounts {
		if strings.HasPrefix(path, p) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" {
		return "", nil
	}
	return best, f.mounts[best]
}

func (f *fakeMounts) HandleLeaseRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	p, m := f.match(req.Path)
	if m == nil {
		return nil, ErrNoMount
	}
	sub := *req
	sub.Path, sub.Storage, sub.MountPoint = strings.TrimPrefix(req.Path, p), m.storage, p
	return m.backend.HandleRequest(ctx, &sub)
}

func (f *fakeMounts) Mount(path string) (MountInfo, bool) {
	_, m := f.match(path)
	if m == nil {
		return MountInfo{}, false
	}
	return m.info, true
}

// move re-mounts the mount at from at to, as sys/remount does.
func (f *fakeMounts) move(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mounts[to] = f.mounts[from]
	delete(f.mounts, from)
}

// harness is a manager over in-memory storage with a fake clock, and a
// leasetest engine mounted at db/.
type harness struct {
	t       testing.TB
	m       *Manager
	eng     *leasetest.Engine
	clock   *clock
	mounts  *fakeMounts
	storage *logical.InmemStorage
	logs    *bytes.Buffer
	// gone holds the hashes of tokens that no longer exist; any other
	// token does.
	gone map[string]bool
}

// t0 is the fake clock's start.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{
		t: t, eng: leasetest.New(), clock: &clock{t: t0}, storage: logical.NewInmemStorage(),
		logs: &bytes.Buffer{}, gone: map[string]bool{},
	}
	b, err := h.eng.Factory(context.Background(), &logical.BackendConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h.mounts = &fakeMounts{mounts: map[string]*fakeMount{
		"db/": {backend: b, storage: logical.NewInmemStorage(), info: MountInfo{Accessor: "leasetest_1234", DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour}},
	}}
	h.m = h.newManager(h.storage)
	return h
}

// newManager builds another manager over storage, as after a restart.
func (h *harness) newManager(s logical.Storage) *Manager {
	var mu sync.Mutex
	return New(Config{
		Storage: s, Mounts: h.mounts, MaxTTL: 48 * time.Hour, Now: h.clock.Now,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TokenExists: func(_ context.Context, hash string) (bool, error) {
			return !h.gone[hash], nil
		},
		RetryBase: 10 * time.Second, RetryMax: 80 * time.Second, Workers: 4,
		Jitter: func() float64 { return 0 },
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// issue reads db/<kind>/app with the query q and registers the lease for
// owner, returning the registered secret and the login's user name.
func (h *harness) issue(kind string, owner Owner, q map[string]any) (*logical.Secret, string) {
	h.t.Helper()
	path := "db/" + kind + "/app"
	resp, err := h.mounts.HandleLeaseRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Data: q})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.m.Register(context.Background(), path, owner, resp.Secret); err != nil {
		h.t.Fatal(err)
	}
	return resp.Secret, resp.Data["username"].(string)
}

// keys lists every key of the manager's storage, sorted.
func (h *harness) keys() []string {
	h.t.Helper()
	keys, err := logical.CollectKeys(context.Background(), h.storage, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return keys
}

func readReq(path string, q map[string]any) *logical.Request {
	return &logical.Request{Operation: logical.ReadOperation, Path: path, Data: q}
}

func timeOf(nanos int64) time.Time { return time.Unix(0, nanos) }
