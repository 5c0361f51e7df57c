package wrapping

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cubbyhole"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
)

// harness is a Manager over a real token store whose revocations destroy
// cubbyholes, as the core wires them.
type harness struct {
	m      *Manager
	tokens *token.Store
	cubby  *cubbyhole.Store
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ctx := context.Background()
	cubby := cubbyhole.NewStore(logical.NewInmemStorage())
	ts, err := token.New(ctx, token.Config{
		Storage:  logical.NewInmemStorage(),
		System:   logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour},
		OnRevoke: func(ctx context.Context, e *token.Entry) { _ = cubby.Destroy(ctx, e.Hash) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Stop)
	return &harness{m: New(ts, cubby, nil), tokens: ts, cubby: cubby}
}

var secretResp = &logical.Response{Data: map[string]any{"secret_id": "s3cr3t", "secret_id_accessor": "acc-1"}}

func (h *harness) wrap(t testing.TB, ttl time.Duration) *logical.WrapInfo {
	t.Helper()
	info, err := h.m.Wrap(context.Background(), Request{ID: "req-1", Path: "auth/approle/role/x/secret-id", MountType: "approle", TTL: ttl}, secretResp)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestWrapShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	info := h.wrap(t, 90*time.Second)
	if info.Token == "" || info.Accessor == "" || info.TTL != 90*time.Second || info.CreationPath != "auth/approle/role/x/secret-id" ||
		info.WrappedAccessor != "acc-1" || info.CreationTime.IsZero() {
		t.Fatalf("wrap info: %+v", info)
	}
	e, err := h.tokens.Lookup(context.Background(), info.Token)
	if err != nil || !e.IsWrapping() || e.NumUses != 1 || e.Renewable || !e.Orphan || e.Path != info.CreationPath {
		t.Fatalf("wrapping token: %+v %v", e, err)
	}
	// A TTL beyond the store's maximum is capped, and reported as capped.
	if long := h.wrap(t, 1000*time.Hour); long.TTL != 24*time.Hour {
		t.Fatalf("capped ttl = %v", long.TTL)
	}
}

// TestUnwrapThirdPartyOnce races third-party unwraps: one wins, the rest
// get ErrInvalidToken, and the cubbyhole is gone after.
func TestUnwrapThirdPartyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	info := h.wrap(t, time.Minute)
	e, _ := h.tokens.Lookup(context.Background(), info.Token)
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			body, err := h.m.Unwrap(context.Background(), "caller", info.Token)
			switch {
			case err == nil:
				won.Add(1)
				var env logical.Envelope
				if json.Unmarshal(body, &env) != nil || env.Data["secret_id"] != "s3cr3t" || env.RequestID != "req-1" {
					t.Errorf("unwrapped %s", body)
				}
			case !errors.Is(err, ErrInvalidToken):
				t.Errorf("unwrap: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d unwraps won", won.Load())
	}
	if owners, _ := h.cubby.Owners(context.Background()); len(owners) != 0 {
		t.Fatalf("cubbyhole outlived its token: %v (was %s)", owners, e.Hash)
	}
}

// TestUnwrapFirstParty unwraps with the token the core used for the
// request, found in the context as the core puts it there.
func TestUnwrapFirstParty(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	info := h.wrap(t, time.Minute)
	ctx := context.Background()
	used, err := h.tokens.Use(ctx, info.Token)
	if err != nil || used == nil {
		t.Fatal(err)
	}
	if _, err := h.m.Unwrap(ctx, info.Token, ""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("without the used entry: %v", err)
	}
	if _, err := h.m.Unwrap(token.WithUsedEntry(ctx, used), "s.other", ""); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("used entry of another token: %v", err)
	}
	body, err := h.m.Unwrap(token.WithUsedEntry(ctx, used), info.Token, "")
	if err != nil || len(body) == 0 {
		t.Fatalf("first-party unwrap: %s %v", body, err)
	}
}

func TestCheckAndLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	info := h.wrap(t, time.Minute)
	root, err := h.tokens.CreateRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		client string
		data   map[string]any
		want   error
	}{
		"body token":           {root, map[string]any{"token": info.Token}, nil},
		"own token":            {info.Token, nil, nil},
		"no token":             {"", nil, nil},
		"normal token":         {root, nil, ErrInvalidToken},
		"unknown body token":   {root, map[string]any{"token": "s.nope"}, ErrInvalidToken},
		"non-string token":     {root, map[string]any{"token": 5}, logical.ErrInvalidRequest},
		"blank token":          {root, map[string]any{"token": "  "}, logical.ErrInvalidRequest},
		"batch-shaped garbage": {root, map[string]any{"token": "b.AAAA"}, ErrInvalidToken},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := h.m.Check(ctx, tc.client, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	look, err := h.m.Lookup(ctx, "", info.Token)
	if err != nil || look["creation_path"] != info.CreationPath || look["creation_ttl"] != json.Number("60") {
		t.Fatalf("lookup: %v %v", look, err)
	}
	if _, err := h.m.Lookup(ctx, "", ""); !errors.Is(err, ErrMissingToken) {
		t.Fatalf("lookup of nothing: %v", err)
	}
	// Lookups spend nothing: the token still unwraps.
	if _, err := h.m.Unwrap(ctx, root, info.Token); err != nil {
		t.Fatalf("unwrap after lookups: %v", err)
	}
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	info := h.wrap(t, 2*time.Minute)
	re, err := h.m.Rewrap(ctx, "caller", info.Token)
	if err != nil || re.Token == info.Token || re.TTL != 2*time.Minute || re.CreationPath != info.CreationPath || re.WrappedAccessor != "acc-1" {
		t.Fatalf("rewrap: %+v %v", re, err)
	}
	if _, err := h.m.Unwrap(ctx, "caller", info.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token after rewrap: %v", err)
	}
	e, _ := h.tokens.Lookup(ctx, re.Token)
	if e == nil || e.Path != "sys/wrapping/rewrap" {
		t.Fatalf("new token: %+v", e)
	}
	body, err := h.m.Unwrap(ctx, "caller", re.Token)
	if err != nil || !json.Valid(body) {
		t.Fatalf("unwrap rewrapped: %s %v", body, err)
	}
}

// failingStorage refuses writes, to see that a failed wrap leaves nothing.
type failingStorage struct{ *logical.InmemStorage }

func (failingStorage) Put(context.Context, *logical.StorageEntry) error {
	return errors.New("disk full")
}

func TestWrapFailureRevokes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.m.cubby = cubbyhole.NewStore(failingStorage{logical.NewInmemStorage()})
	var created string
	tokens := &spyTokens{Tokens: h.tokens, created: &created}
	h.m.tokens = tokens
	if _, err := h.m.Wrap(context.Background(), Request{Path: "p", TTL: time.Minute}, secretResp); err == nil {
		t.Fatal("wrap succeeded without storage")
	}
	if e, _ := h.tokens.Lookup(context.Background(), created); e != nil {
		t.Fatal("a failed wrap left its token alive")
	}
}

type spyTokens struct {
	Tokens
	created *string
}

func (s *spyTokens) CreateWrapping(ctx context.Context, ttl time.Duration, path string) (string, *token.Entry, error) {
	id, e, err := s.Tokens.CreateWrapping(ctx, ttl, path)
	*s.created = id
	return id, e, err
}

func TestTakesToken(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"sys/wrapping/unwrap": true, "sys/wrapping/lookup/": true, "sys/wrapping/rewrap": true,
		"sys/wrapping/wrap": false, "sys/wrapping/unwrapx": false, "secret/sys/wrapping/unwrap": false,
	} {
		if TakesToken(path) != want {
			t.Errorf("TakesToken(%q) = %v", path, !want)
		}
	}
}
