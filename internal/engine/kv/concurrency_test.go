package kv

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestConcurrentCAS has writers race on one key, each reading the current
// version and writing with cas set to it, retrying on a mismatch. No update
// may be lost: every success must get its own version, and the final data
// must carry every writer's last increment.
func TestConcurrentCAS(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 8, 25
	b, _, _ := newTestV2(t)
	mustDo(t, b, put("config", `{"max_versions":1000}`))
	var (
		mu   sync.Mutex
		seen = map[any]bool{}
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; {
				cur := uint64(0)
				if r, err := do(t, b, get("data/counter")); err != nil {
					t.Error(err)
					return
				} else if r != nil {
					cur = readVersionOf(t, r)
				}
				body := fmt.Sprintf(`{"data":{"w%d":%d},"options":{"cas":%d}}`, w, i+1, cur)
				r, err := do(t, b, patchOrPut(cur, body))
				if errors.Is(err, logical.ErrCASMismatch) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[r.Data["version"]] {
					t.Errorf("version %v handed out twice", r.Data["version"])
				}
				seen[r.Data["version"]] = true
				mu.Unlock()
				i++
			}
		})
	}
	wg.Wait()
	r := mustDo(t, b, get("data/counter"))
	if v := readVersionOf(t, r); v != uint64(writers*perWriter) {
		t.Fatalf("current version %v, want %d", v, writers*perWriter)
	}
	data := jsonOf(t, r.Data["data"]).(map[string]any)
	for w := range writers {
		if got := data[fmt.Sprintf("w%d", w)]; got != float64(perWriter) {
			t.Fatalf("writer %d's last update lost: %v", w, data)
		}
	}
}

// patchOrPut creates the key with a write and changes it with a patch, so
// that each writer's field survives the others' versions.
func patchOrPut(cur uint64, body string) step {
	if cur == 0 {
		return put("data/counter", body)
	}
	return patch("data/counter", body)
}

// readVersionOf is the version a data read answered, from its metadata
// object as a client decodes it.
func readVersionOf(t testing.TB, r *logical.Response) uint64 {
	t.Helper()
	md, _ := jsonOf(t, r.Data["metadata"]).(map[string]any)
	v, ok := md["version"].(float64)
	if !ok {
		t.Fatalf("no version in the metadata of %v", r.Data)
	}
	return uint64(v)
}
