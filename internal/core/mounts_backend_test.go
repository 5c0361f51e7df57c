package core

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// blocking answers once release is closed and records what happened.
type blocking struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	events  []string
}

func (b *blocking) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	close(b.entered)
	<-b.release
	b.record("served")
	return logical.DataResponse(map[string]any{"by": "old"}), nil
}

func (b *blocking) Cleanup(context.Context) { b.record("cleaned") }

func (b *blocking) record(e string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
}

type answering string

func (a answering) HandleRequest(context.Context, *logical.Request) (*logical.Response, error) {
	return logical.DataResponse(map[string]any{"by": string(a)}), nil
}

// TestRetireWaitsForRequests: a retired backend is cleaned up only after
// the request it was serving is done, and what comes later goes to its
// successor, or is not found.
func TestRetireWaitsForRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inner := &blocking{entered: make(chan struct{}), release: make(chan struct{})}
	g := gate(inner)
	served := make(chan error, 1)
	go func() {
		_, err := g.HandleRequest(ctx, &logical.Request{})
		served <- err
	}()
	<-inner.entered
	retired := make(chan struct{})
	go func() {
		g.retire(ctx, answering("new"))
		close(retired)
	}()
	close(inner.release)
	<-retired
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	inner.mu.Lock()
	events := inner.events
	inner.mu.Unlock()
	if len(events) != 2 || events[0] != "served" || events[1] != "cleaned" {
		t.Fatalf("events %v: the backend was cleaned up under a request", events)
	}
	resp, err := g.HandleRequest(ctx, &logical.Request{})
	if err != nil || resp.Data["by"] != "new" {
		t.Fatalf("after retirement: %+v %v", resp, err)
	}
	gone := gate(answering("x"))
	gone.retire(ctx, nil)
	if _, err := gone.HandleRequest(ctx, &logical.Request{MountPoint: "x/"}); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Fatalf("a disabled mount answers %v", err)
	}
	if err := gone.RenewAuth(ctx, &logical.Request{}); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Fatalf("renewal through a disabled mount: %v", err)
	}
}

func TestPassthrough(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-Request-Id": {"r"}, "X-Vault-Token": {"s.secret"}, "Authorization": {"Bearer s.secret"}, "X-Other": {"o"}}
	cases := map[string]struct {
		names []string
		want  http.Header
	}{
		"none asked":         {nil, nil},
		"one asked":          {[]string{"X-Request-Id"}, http.Header{"X-Request-Id": {"r"}}},
		"absent header":      {[]string{"X-Missing"}, nil},
		"token never passes": {[]string{"X-Vault-Token", "Authorization", "X-Other"}, http.Header{"X-Other": {"o"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := passthrough(h, tc.names)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got.Get(k) != v[0] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// everything implements every optional interface the core looks for.
type everything struct{ answering }

func (everything) ExistenceCheck(context.Context, *logical.Request) (bool, bool, error) {
	return true, true, nil
}
func (everything) SpecialPaths() *logical.Paths { return &logical.Paths{Root: []string{"r"}} }
func (everything) RenewAuth(context.Context, *logical.Request) error {
	return logical.InvalidRequest("no renewals")
}
func (everything) ParseParams(*logical.Request) ([]logical.Param, bool, error) {
	return []logical.Param{{Names: []string{"p"}}}, true, nil
}

// TestGatePassesCapabilitiesOn: a gated backend keeps every optional
// interface of the backend inside; losing one (say, the parameter parser
// the policy rules need) would silently weaken the core's checks.
func TestGatePassesCapabilitiesOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := gate(everything{"x"})
	if found, exists, err := g.ExistenceCheck(ctx, &logical.Request{}); !found || !exists || err != nil {
		t.Fatal("existence check lost")
	}
	if p := g.SpecialPaths(); p == nil || p.Root[0] != "r" {
		t.Fatal("special paths lost")
	}
	if err := g.RenewAuth(ctx, &logical.Request{}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatal("renewal check lost")
	}
	if params, err := logical.RequestParams(g, &logical.Request{Data: map[string]any{"raw": 1}}); err != nil || len(params) != 1 || params[0].Names[0] != "p" {
		t.Fatalf("parameter parser lost: %v %v", params, err)
	}
	plain := gate(answering("y"))
	if found, _, _ := plain.ExistenceCheck(ctx, &logical.Request{}); found {
		t.Fatal("a backend without an existence check got one")
	}
	if params, _ := logical.RequestParams(plain, &logical.Request{Data: map[string]any{"raw": 1}}); len(params) != 1 || params[0].Names[0] != "raw" {
		t.Fatalf("a backend without a parser: %v", params)
	}
}

// background counts the calls of logical.BackgroundRunner.
type background struct {
	answering
	mu            sync.Mutex
	starts, stops int
}

func (b *background) StartBackground(context.Context) { b.mu.Lock(); b.starts++; b.mu.Unlock() }
func (b *background) StopBackground()                 { b.mu.Lock(); b.stops++; b.mu.Unlock() }

// TestGatePassesBackgroundOn: the HA layer's start and stop of a
// backend's own scheduled work (static role rotation) reach the backend
// through its gate, and, once it is retired, its successor.
func TestGatePassesBackgroundOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inner, next := &background{answering: "old"}, &background{answering: "new"}
	g := gate(inner)
	g.StopBackground()
	g.StartBackground(ctx)
	g.retire(ctx, next)
	g.StopBackground()
	if inner.starts != 1 || inner.stops != 1 || next.stops != 1 {
		t.Fatalf("inner %d/%d, successor stops %d", inner.starts, inner.stops, next.stops)
	}
	gate(answering("plain")).StartBackground(ctx) // no such work: nothing to do
}
