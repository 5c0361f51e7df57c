package approle

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// clock is a settable time source for expiry tests; no test sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is one backend over in-memory storage with a fake clock and no
// background sweeper.
type harness struct {
	b       *backend
	fw      *framework.Backend
	storage *logical.InmemStorage
	clock   *clock
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, logical.NewInmemStorage(), false)
}

// yieldingStorage gives way to other goroutines in the middle of every
// read and write, so that a read-modify-write without its lock loses
// updates in a test, as it would under load.
type yieldingStorage struct{ *logical.InmemStorage }

func (y yieldingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	runtime.Gosched()
	e, err := y.InmemStorage.Get(ctx, key)
	runtime.Gosched()
	return e, err
}

func (y yieldingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	runtime.Gosched()
	return y.InmemStorage.Put(ctx, e)
}

func newHarnessOn(t testing.TB, s *logical.InmemStorage, yielding bool) *harness {
	t.Helper()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var storage logical.Storage = s
	if yielding {
		storage = yieldingStorage{s}
	}
	b, err := newBackend(context.Background(), &logical.BackendConfig{
		Storage: storage, System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour},
	}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.cleanup(context.Background()) })
	return &harness{b: b, fw: b.framework(), storage: s, clock: c}
}

func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return h.doFrom(op, path, data, "127.0.0.1:40000")
}

func (h *harness) doFrom(op logical.Operation, path string, data map[string]any, remote string) (*logical.Response, error) {
	return h.fw.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: h.storage, RemoteAddr: remote,
	})
}

func (h *harness) mustDo(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := h.do(op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}

// role creates a role and returns its role ID.
func (h *harness) role(t testing.TB, name string, data map[string]any) string {
	t.Helper()
	h.mustDo(t, logical.CreateOperation, "role/"+name, data)
	r := h.mustDo(t, logical.ReadOperation, "role/"+name+"/role-id", nil)
	return r.Data["role_id"].(string)
}

// secretID generates a secret ID and returns it with its accessor.
func (h *harness) secretID(t testing.TB, role string, data map[string]any) (string, string) {
	t.Helper()
	r := h.mustDo(t, logical.UpdateOperation, "role/"+role+"/secret-id", data)
	return r.Data["secret_id"].(string), r.Data["secret_id_accessor"].(string)
}

func (h *harness) login(roleID, secretID, remote string) (*logical.Response, error) {
	return h.doFrom(logical.UpdateOperation, "login", map[string]any{"role_id": roleID, "secret_id": secretID}, remote)
}
