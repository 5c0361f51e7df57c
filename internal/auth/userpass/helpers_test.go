package userpass

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// harness is one backend over in-memory storage.
type harness struct {
	b       *backend
	fw      *framework.Backend
	storage *logical.InmemStorage
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	s := logical.NewInmemStorage()
	b := newBackend(&logical.BackendConfig{Storage: s})
	return &harness{b: b, fw: b.framework(), storage: s}
}

// do sends one request to the backend as the core would.
func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return h.doFrom(op, path, data, "127.0.0.1:40000")
}

func (h *harness) doFrom(op logical.Operation, path string, data map[string]any, remote string) (*logical.Response, error) {
	return h.fw.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: h.storage, RemoteAddr: remote,
	})
}

// mustDo is do that fails the test on an error.
func (h *harness) mustDo(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := h.do(op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}
