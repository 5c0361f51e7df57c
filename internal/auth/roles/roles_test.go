package roles

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

type testRole struct {
	Kind  string `json:"kind"`
	Claim any    `json:"claim"`
	// completed is set by the loaded hook.
	completed bool
}

var errRefused = errors.New("refused")

// newTestBackend serves a store of testRoles through the shared routes; a
// write sets kind from the request and refuses kind "bad".
func newTestBackend(t *testing.T) (*framework.Backend, *Store[testRole], *logical.InmemStorage) {
	t.Helper()
	storage := logical.NewInmemStorage()
	s := NewStore(storage, "role/", func(_ string, r *testRole) error {
		if r.Kind == "" {
			r.Kind = "default"
		}
		r.completed = true
		return nil
	})
	rt := &Routes[testRole]{
		NameField: "name",
		Name:      CheckName,
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString},
			"kind": {Type: framework.TypeString},
		},
		Help:     "test roles",
		List:     s.List,
		Load:     s.Load,
		Describe: func(r *testRole) map[string]any { return map[string]any{"kind": r.Kind} },
		Write: func(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error) {
			_, err := s.Write(ctx, name, func(r *testRole) error {
				if !r.completed {
					return errors.New("the role was not completed by the hook")
				}
				if r.Kind = d.String("kind"); r.Kind == "bad" {
					return logical.InvalidRequest("bad kind")
				}
				return nil
			})
			return nil, err
		},
		Delete: s.Delete,
	}
	return &framework.Backend{Paths: rt.Paths()}, s, storage
}

func do(t *testing.T, b *framework.Backend, op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	t.Helper()
	return b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data})
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	b, s, storage := newTestBackend(t)
	ctx := context.Background()
	if r, err := do(t, b, logical.ListOperation, "role/", nil); err != nil || r != nil {
		t.Fatalf("list with no roles = %v, %v; want a 404 (nil, nil)", r, err)
	}
	if _, err := do(t, b, logical.UpdateOperation, "role/Dev", map[string]any{"kind": "a"}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("upper-case name: err = %v, want a 400", err)
	}
	if _, err := do(t, b, logical.UpdateOperation, "role/dev", map[string]any{"kind": "a"}); err != nil {
		t.Fatal(err)
	}
	if r, err := do(t, b, logical.ReadOperation, "role/dev", nil); err != nil || r == nil || r.Data["kind"] != "a" {
		t.Fatalf("read = %v, %v", r, err)
	}
	if _, err := do(t, b, logical.UpdateOperation, "role/dev", map[string]any{"kind": "bad"}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("refused write: err = %v, want a 400", err)
	}
	if r, err := s.Get(ctx, "dev"); err != nil || r.Kind != "a" {
		t.Fatalf("after a refused write, cached role = %+v, %v; want kind a", r, err)
	}
	if err := storage.Put(ctx, &logical.StorageEntry{Key: "role/sub/", Value: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if r, err := do(t, b, logical.ListOperation, "role/", nil); err != nil || r == nil || len(r.Data["keys"].([]string)) != 1 {
		t.Fatalf("list = %v, %v; want only dev", r, err)
	}
	if _, err := do(t, b, logical.DeleteOperation, "role/dev", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, "dev"); err != nil || r != nil {
		t.Fatalf("deleted role still served: %+v, %v", r, err)
	}
	if _, err := do(t, b, logical.DeleteOperation, "role/dev", nil); err != nil {
		t.Fatalf("deleting a missing role: %v", err)
	}
}

func TestStoreLoad(t *testing.T) {
	t.Parallel()
	storage := logical.NewInmemStorage()
	ctx := context.Background()
	if err := storage.Put(ctx, &logical.StorageEntry{Key: "role/a", Value: []byte(`{"claim":12345678901234567890}`)}); err != nil {
		t.Fatal(err)
	}
	s := NewStore(storage, "role/", func(name string, r *testRole) error {
		if name == "refused" {
			return errRefused
		}
		r.Kind = "filled"
		return nil
	})
	r, err := s.Load(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := r.Claim.(json.Number); !ok || n.String() != "12345678901234567890" || r.Kind != "filled" {
		t.Fatalf("loaded %+v; want the number kept exactly and the hook run", r)
	}
	if err := storage.Put(ctx, &logical.StorageEntry{Key: "role/refused", Value: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "refused"); !errors.Is(err, errRefused) {
		t.Fatalf("hook error: %v", err)
	}
	if r, err := s.Get(ctx, "missing"); err != nil || r != nil {
		t.Fatalf("missing role = %+v, %v", r, err)
	}
	// Get caches: a change behind the store's back is not seen.
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := storage.Delete(ctx, "role/a"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, "a"); err != nil || r == nil {
		t.Fatalf("cached role = %+v, %v", r, err)
	}
}
