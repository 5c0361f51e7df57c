package cubbyhole

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// hasher names tokens by their hex, standing in for the token store.
type hasher struct{}

func (hasher) HashID(tok string) string { return hex.EncodeToString([]byte(tok)) }

func isBatch(tok string) bool { return strings.HasPrefix(tok, "b.") }

func do(t *testing.T, b logical.Backend, op logical.Operation, tok, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, ClientToken: tok, Data: data})
}

// TestBackendIsolation checks that each token sees only its own cubbyhole
// and that batch tokens have none.
func TestBackendIsolation(t *testing.T) {
	t.Parallel()
	s := NewStore(logical.NewInmemStorage())
	b := NewBackend(s, hasher{}, isBatch)
	if _, err := do(t, b, logical.UpdateOperation, "s.a", "dir/x", map[string]any{"v": "a"}); err != nil {
		t.Fatal(err)
	}
	if r, err := do(t, b, logical.ReadOperation, "s.a", "dir/x", nil); err != nil || r.Data["v"] != "a" {
		t.Fatalf("own read: %+v %v", r, err)
	}
	if r, err := do(t, b, logical.ReadOperation, "s.b", "dir/x", nil); err != nil || r != nil {
		t.Fatalf("another token's read: %+v %v", r, err)
	}
	if r, err := do(t, b, logical.ListOperation, "s.a", "dir/", nil); err != nil || !reflect.DeepEqual(r.Data["keys"], []string{"x"}) {
		t.Fatalf("list: %+v %v", r, err)
	}
	cases := map[string]struct {
		op   logical.Operation
		tok  string
		path string
		data map[string]any
		want error
	}{
		"batch token": {logical.UpdateOperation, "b.x", "k", map[string]any{"v": 1}, ErrBatchToken},
		"no data":     {logical.UpdateOperation, "s.a", "k", nil, ErrNoData},
		"root path":   {logical.ReadOperation, "s.a", "", nil, ErrNoPath},
		"no token":    {logical.ReadOperation, "", "k", nil, logical.ErrPermissionDenied},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := do(t, b, tc.op, tc.tok, tc.path, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestDestroy checks that Destroy removes a whole cubbyhole, nested keys
// included, and nothing of another's.
func TestDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := logical.NewInmemStorage()
	s := NewStore(raw)
	for _, k := range []string{"a", "d/b", "d/e/c"} {
		if err := s.Put(ctx, "owner1", k, map[string]any{"v": k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "owner2", "a", map[string]any{"v": 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(ctx, "owner1"); err != nil {
		t.Fatal(err)
	}
	if owners, _ := s.Owners(ctx); !reflect.DeepEqual(owners, []string{"owner2"}) {
		t.Fatalf("owners after destroy: %v", owners)
	}
	if v, _ := s.Get(ctx, "owner2", "a"); v == nil {
		t.Fatal("destroy took another owner's data")
	}
	if err := s.Destroy(ctx, "nobody"); err != nil {
		t.Fatalf("destroying an empty cubbyhole: %v", err)
	}
	for _, bad := range []string{"", "a/b", "..", "x.y"} {
		if err := s.Put(ctx, bad, "k", map[string]any{"v": 1}); !errors.Is(err, errBadOwner) {
			t.Fatalf("owner %q: %v", bad, err)
		}
	}
}

// TestTidy destroys the cubbyholes of owners that are gone and keeps the
// others.
func TestTidy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(logical.NewInmemStorage())
	for _, o := range []string{"alive", "gone1", "gone2"} {
		if err := s.Put(ctx, o, "k", map[string]any{"v": o}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Tidy(ctx, func(_ context.Context, o string) (bool, error) { return o == "alive", nil })
	if err != nil || n != 2 {
		t.Fatalf("tidy = %d, %v", n, err)
	}
	if owners, _ := s.Owners(ctx); !reflect.DeepEqual(owners, []string{"alive"}) {
		t.Fatalf("owners after tidy: %v", owners)
	}
	if _, err := s.Tidy(ctx, func(context.Context, string) (bool, error) { return false, errors.New("storage down") }); err == nil {
		t.Fatal("an error deciding was swallowed")
	}
	if owners, _ := s.Owners(ctx); len(owners) != 1 {
		t.Fatal("an owner whose existence is unknown was destroyed")
	}
}
