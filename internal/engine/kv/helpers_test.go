package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// step is one request, with its body written as the JSON a client sends.
type step struct {
	op   logical.Operation
	path string
	body string
}

// fakeClock is a settable clock for delete_version_after tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestV2(t testing.TB) (logical.Backend, *logical.InmemStorage, *fakeClock) {
	t.Helper()
	s := logical.NewInmemStorage()
	clock := &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}
	return newV2Clock(s, clock.now), s, clock
}

// decodeBody decodes a JSON body the way the HTTP layer does.
func decodeBody(t testing.TB, body string) map[string]any {
	t.Helper()
	if body == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test body %s: %v", body, err)
	}
	return m
}

func do(t testing.TB, b logical.Backend, s step) (*logical.Response, error) {
	t.Helper()
	return b.HandleRequest(context.Background(), &logical.Request{Operation: s.op, Path: s.path, Data: decodeBody(t, s.body)})
}

// mustDo runs steps that are expected to succeed.
func mustDo(t testing.TB, b logical.Backend, steps ...step) *logical.Response {
	t.Helper()
	var resp *logical.Response
	for _, s := range steps {
		var err error
		if resp, err = do(t, b, s); err != nil {
			t.Fatalf("%s %s: %v", s.op, s.path, err)
		}
	}
	return resp
}

// jsonOf renders v as JSON after a round trip, so that tests compare what a
// client would see rather than Go types.
func jsonOf(t testing.TB, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantJSON(t testing.TB, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if g := jsonOf(t, got); !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		t.Fatalf("got  %s\nwant %s", gb, want)
	}
}

func put(path, body string) step   { return step{logical.UpdateOperation, path, body} }
func get(path string) step         { return step{logical.ReadOperation, path, ""} }
func patch(path, body string) step { return step{logical.PatchOperation, path, body} }
func del(path string) step         { return step{logical.DeleteOperation, path, ""} }
func list(path string) step        { return step{logical.ListOperation, path, ""} }
func getq(path, query string) step { return step{logical.ReadOperation, path, query} }

// routeCase is one request against a fresh v2 mount after setup.
type routeCase struct {
	setup      []step
	req        step
	wantErr    error
	wantNil    bool
	wantStatus int
	want       string // the response data as JSON; "" skips the comparison
}

// runCases runs each case in parallel against its own mount.
func runCases(t *testing.T, cases map[string]routeCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, tc.setup...)
			resp, err := do(t, b, tc.req)
			checkResult(t, resp, err, tc.wantErr, tc.wantNil, tc.wantStatus, tc.want)
		})
	}
}
