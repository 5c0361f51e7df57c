package lockout

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

var errBadCreds error = &logical.UserError{Kind: logical.ErrInvalidCredentials, Msg: "invalid username or password"}

// fakeLogin is an auth method with one user, alice/secret, that names its
// logins' aliases.
type fakeLogin struct{ calls int }

func (f *fakeLogin) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	f.calls++
	switch {
	case req.Path == "login/panic":
		panic("backend bug")
	case req.Path == "login/broken":
		return nil, errors.New("storage is down")
	case strings.ToLower(req.Path) == "login/alice" && req.Data["password"] == "secret":
		return &logical.Response{Auth: &logical.Auth{Policies: []string{"default"}}}, nil
	}
	return nil, errBadCreds
}

func (f *fakeLogin) LoginAlias(_ context.Context, req *logical.Request) (string, error) {
	name, ok := strings.CutPrefix(req.Path, "login/")
	if !ok {
		return "", nil
	}
	return strings.ToLower(name), nil
}

// fakeMounts has one userpass mount (acc) and one token mount (tok).
type fakeMounts struct{ tune *Settings }

func (m fakeMounts) LockoutMount(accessor string) (string, *Settings, bool) {
	switch accessor {
	case "acc":
		return "userpass", m.tune, true
	case "tok":
		return "token", nil, true
	}
	return "", nil, false
}

func login(g *Guard, b logical.Backend, accessor, name, password string) error {
	_, err := g.Run(context.Background(), b, &logical.Request{
		Operation: logical.UpdateOperation, Path: "login/" + name, Unauthenticated: true, MountAccessor: accessor,
		Data: map[string]any{"password": password},
	})
	return err
}

func newGuard(t testing.TB, tune *Settings) *Guard {
	return NewGuard(Policy{}, fakeMounts{tune: tune}, newTracker(t, logical.NewInmemStorage(), newClock(), Options{}))
}

// TestGuardUnknownUserLikeKnown: an unknown name is counted and locked
// exactly like a known one, with the same answers, and a locked name is
// refused even with the right password, without the backend running.
func TestGuardUnknownUserLikeKnown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alice", "mallory"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, b := newGuard(t, nil), &fakeLogin{}
			for i := range DefaultThreshold {
				if err := login(g, b, "acc", name, "wrong"); err != errBadCreds {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
			}
			calls := b.calls
			for _, pw := range []string{"secret", "wrong"} {
				if err := login(g, b, "acc", strings.ToUpper(name), pw); err != ErrLocked {
					t.Fatalf("locked login with %q: %v", pw, err)
				}
			}
			if b.calls != calls {
				t.Fatal("the backend ran for a locked alias")
			}
			if err := g.Unlock(context.Background(), "acc", name); err != nil {
				t.Fatal(err)
			}
			want := errBadCreds
			if name == "alice" {
				want = nil
			}
			if err := login(g, b, "acc", name, "secret"); err != want {
				t.Fatalf("after unlock: %v", err)
			}
		})
	}
}

// TestGuardPassesThrough: what is not a guarded login goes to the backend
// untouched, however often it fails.
func TestGuardPassesThrough(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		tune     *Settings
		accessor string
		req      logical.Request
	}{
		"lockout disabled by tune": {tune: &Settings{Disable: ptr(true)}, accessor: "acc"},
		"unsupported mount type":   {accessor: "tok"},
		"unknown mount":            {accessor: "nope"},
		"no accessor":              {accessor: ""},
		"authenticated request":    {accessor: "acc", req: logical.Request{Path: "login/alice"}},
		"not a login path":         {accessor: "acc", req: logical.Request{Path: "users/alice", Unauthenticated: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, b := newGuard(t, tc.tune), &fakeLogin{}
			req := tc.req
			if req.Path == "" {
				req = logical.Request{Path: "login/alice", Unauthenticated: true}
			}
			req.MountAccessor, req.Operation = tc.accessor, logical.UpdateOperation
			for range 2 * DefaultThreshold {
				if _, err := g.Run(context.Background(), b, &req); err != errBadCreds {
					t.Fatalf("got %v", err)
				}
			}
			if b.calls != 2*DefaultThreshold {
				t.Fatalf("backend ran %d times", b.calls)
			}
		})
	}
}

// TestGuardOutcomes: only invalid credentials count; a success resets; an
// internal error or a panic neither counts nor keeps its slot.
func TestGuardOutcomes(t *testing.T) {
	t.Parallel()
	g, b := newGuard(t, &Settings{Threshold: 2}), &fakeLogin{}
	if err := login(g, b, "acc", "alice", "wrong"); err != errBadCreds {
		t.Fatal(err)
	}
	if err := login(g, b, "acc", "alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := login(g, b, "acc", "alice", "wrong"); err != errBadCreds {
		t.Fatalf("a success did not reset the count: %v", err)
	}
	for range 5 {
		if err := login(g, b, "acc", "broken", "x"); err == nil || err == ErrLocked {
			t.Fatalf("internal errors counted: %v", err)
		}
	}
	for range 5 {
		func() {
			defer func() { _ = recover() }()
			_ = login(g, b, "acc", "panic", "x")
		}()
	}
	// Had the panics kept their slots, this attempt would have to wait,
	// and the cancelled context would end it.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cfg, _ := g.ConfigFor("acc")
	if err := g.tracker.Acquire(cancelled, Key{"acc", "panic"}, cfg); err != nil {
		t.Fatalf("a panicking backend kept its slot: %v", err)
	}
}
