package identity

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// fakeMounts knows two auth mounts.
type fakeMounts map[string][2]string

func (f fakeMounts) AuthMountByAccessor(acc string) (string, string, bool) {
	m, ok := f[acc]
	return m[0], m[1], ok
}

var testMounts = fakeMounts{
	"auth_userpass_1": {"auth/userpass/", "userpass"},
	"auth_jwt_2":      {"auth/jwt/", "jwt"},
}

// failingStorage fails every write once fail is set.
type failingStorage struct {
	*logical.InmemStorage
	fail atomic.Bool
}

var errInjected = errors.New("injected storage failure")

func (f *failingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if f.fail.Load() {
		return errInjected
	}
	return f.InmemStorage.Put(ctx, e)
}

func (f *failingStorage) Transaction(ctx context.Context, ops []logical.TxnOp) error {
	if f.fail.Load() {
		return errInjected
	}
	return f.InmemStorage.Transaction(ctx, ops)
}

func (f *failingStorage) Delete(ctx context.Context, k string) error {
	if f.fail.Load() {
		return errInjected
	}
	return f.InmemStorage.Delete(ctx, k)
}

type harness struct {
	s       *Store
	storage *failingStorage
	b       logical.Backend
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	st := &failingStorage{InmemStorage: logical.NewInmemStorage()}
	s := New(Config{Storage: st, Mounts: testMounts})
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &harness{s: s, storage: st, b: s.Backend()}
}

// reload opens a second store over the same storage, as an unseal does.
func (h *harness) reload(t testing.TB) *Store {
	t.Helper()
	s := New(Config{Storage: h.storage, Mounts: testMounts})
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return h.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data})
}

func (h *harness) mustDo(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := h.do(op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}

func (h *harness) login(t testing.TB, acc, name string, meta map[string]string) *Entity {
	t.Helper()
	e, err := h.s.Login(context.Background(), acc, &logical.Alias{Name: name, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
