package core

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// recording is a physical backend that records the keys read and the
// prefixes listed under a prefix.
type recording struct {
	physical.Backend
	prefix string
	mu     sync.Mutex
	on     bool
	seen   []string
}

func (r *recording) note(op, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on && strings.HasPrefix(key, r.prefix) {
		r.seen = append(r.seen, op+" "+key)
	}
}

func (r *recording) Get(ctx context.Context, key string) (*physical.Entry, error) {
	r.note("get", key)
	return r.Backend.Get(ctx, key)
}

func (r *recording) List(ctx context.Context, prefix string) ([]string, error) {
	r.note("list", prefix)
	return r.Backend.List(ctx, prefix)
}

func (r *recording) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on, r.seen = true, nil
}

func (r *recording) reads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// TestUnsealReadsNoSecrets: unsealing a store (and the second after it,
// when background work has started) reads nothing under a secrets mount's
// data, so unseal time does not grow with the number of secrets stored
// (issue 9: 1,000,000 keys, ready in under a second).
func TestUnsealReadsNoSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recording{Backend: inmem.New(), prefix: "logical/"}
	c := New(Config{Physical: rec, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	share, root, err := c.DevInit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	if _, err := do(c, root, logical.UpdateOperation, "sys/mounts/kv1", map[string]any{"type": "kv"}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		for _, p := range []string{"secret/data/app-%d", "kv1/app-%d"} {
			if _, err := do(c, root, logical.UpdateOperation, fmt.Sprintf(p, i), map[string]any{"data": map[string]any{"v": "x"}, "v": "x"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	rec.start()
	if _, err := c.Unseal(ctx, share, false); err != nil {
		t.Fatal(err)
	}
	if c.Sealed() {
		t.Fatal("still sealed")
	}
	time.Sleep(time.Second) // background work: lease restore, cubbyhole tidy, token count
	for _, r := range rec.reads() {
		// A mount may read its own settings (KV v2: config); never a secret.
		if !strings.HasSuffix(r, "/config") {
			t.Errorf("unseal read %s", r)
		}
	}
	if resp, err := do(c, root, logical.ReadOperation, "secret/data/app-7", nil); err != nil || resp == nil {
		t.Fatalf("read after unseal: %v %v", resp, err)
	}
	if got := rec.reads(); len(got) == 0 {
		t.Fatal("the recording saw no read of a secret after unseal: it records nothing")
	}
}
