package token

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// clock is a settable time source for Config.Now.
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

type harness struct {
	s       *Store
	b       logical.Backend
	storage *logical.InmemStorage
	clock   *clock
	root    string

	mu      sync.Mutex
	revoked []string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{storage: logical.NewInmemStorage(), clock: &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}
	s, err := New(context.Background(), Config{
		Storage: h.storage,
		System:  logical.StaticSystemView{DefaultTTL: 768 * time.Hour, MaxTTL: 768 * time.Hour},
		Now:     h.clock.Now,
		OnRevoke: func(_ context.Context, e *Entry) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.revoked = append(h.revoked, e.Hash)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.s, h.b = s, s.Backend()
	if h.root, err = s.CreateRoot(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	return h
}

// call sends one request through the backend as the holder of tok.
func (h *harness) call(op logical.Operation, path, tok string, data map[string]any) (*logical.Response, error) {
	return h.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, ClientToken: tok, Data: data, MountPoint: "auth/token/",
	})
}

// create issues a token through the create route and fails the test on error.
func (h *harness) create(t testing.TB, parent string, data map[string]any) *logical.Auth {
	t.Helper()
	resp, err := h.call(logical.UpdateOperation, "create", parent, data)
	if err != nil {
		t.Fatalf("create %v: %v", data, err)
	}
	return resp.Auth
}

func (h *harness) alive(t testing.TB, tok string) bool {
	t.Helper()
	e, err := h.s.Lookup(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return e != nil
}
