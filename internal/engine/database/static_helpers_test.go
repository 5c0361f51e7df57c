package database

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newHarnessOn is newHarness over given storage (to play a restart: a new
// backend over the storage of the old one) with a clock.
func newHarnessOn(t testing.TB, srv *dbtest.Server, s logical.Storage, clock *fakeClock) *harness {
	t.Helper()
	logs := &syncBuffer{}
	b := newBackend(&logical.BackendConfig{
		Storage: s,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		System:  logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour},
	}, Plugins())
	if clock != nil {
		b.now = clock.Now
	}
	// Retries come quickly; a test moves the fake clock past them.
	b.sched.base, b.sched.max = time.Millisecond, 10*time.Millisecond
	fw := b.framework()
	t.Cleanup(func() { fw.Cleanup(context.Background()) })
	return &harness{t: t, b: b, fw: fw, srv: srv, logs: logs}
}

// staticUser makes a user for a static role to manage and a config "db"
// for a fresh root, with extra config fields; it returns the user and its
// password.
func (h *harness) staticUser(extra map[string]any) (user, password string) {
	h.t.Helper()
	user, password = h.srv.NewUser(h.t)
	h.configure("db", h.srv, extra)
	return user, password
}

// staticRole writes static-roles/name for user on config db.
func (h *harness) staticRole(name, user string, extra map[string]any) {
	h.t.Helper()
	data := map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"}
	for k, v := range extra {
		if v == nil {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	h.mustDo(logical.CreateOperation, "static-roles/"+name, data)
}

// staticCreds reads static-creds/name.
func (h *harness) staticCreds(name string) *logical.Response {
	h.t.Helper()
	resp := h.mustDo(logical.ReadOperation, "static-creds/"+name, nil)
	if resp == nil {
		h.t.Fatalf("static-creds/%s: no response", name)
	}
	return resp
}

// stored reads the role's record as it is in storage.
func (h *harness) stored(name string) *staticRole {
	h.t.Helper()
	r, err := h.b.loadStaticRole(context.Background(), name)
	if err != nil || r == nil {
		h.t.Fatalf("static role %s: %v %v", name, r, err)
	}
	return r
}

// waitRecord polls the stored record of name until ok says yes, for up to
// 30 seconds (a bound for a loaded machine, not a timing assertion).
func (h *harness) waitRecord(name, what string, ok func(r *staticRole) bool) *staticRole {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := h.b.loadStaticRole(context.Background(), name)
		if err == nil && r != nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waited 30s for %s; record %+v err %v\nlogs:\n%s", what, redacted(r), err, h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog polls the backend's log for a line containing want.
func (h *harness) waitLog(want string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.logs.String(), want) {
		if time.Now().After(deadline) {
			h.t.Fatalf("waited 30s for a log line with %q:\n%s", want, h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redacted is a record with its passwords replaced by whether they are
// set, for failure messages.
func redacted(r *staticRole) any {
	if r == nil {
		return nil
	}
	c := *r
	mark := func(s string) string {
		if s == "" {
			return ""
		}
		return "<set>"
	}
	c.Password, c.PendingPassword = mark(c.Password), mark(c.PendingPassword)
	return c
}

// faultyStorage fails the Put calls fail says to fail.
type faultyStorage struct {
	logical.Storage
	mu   sync.Mutex
	fail func(key string, r *staticRole) bool
}

var errInjected = errors.New("injected storage failure")

func (f *faultyStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail != nil && strings.HasPrefix(e.Key, staticRolePrefix) {
		var r staticRole
		if jsonUnmarshal(string(e.Value), &r) == nil && fail(e.Key, &r) {
			return errInjected
		}
	}
	return f.Storage.Put(ctx, e)
}

func (f *faultyStorage) setFail(fail func(key string, r *staticRole) bool) {
	f.mu.Lock()
	f.fail = fail
	f.mu.Unlock()
}
