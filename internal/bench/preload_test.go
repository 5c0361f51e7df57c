package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/engine/kv"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// TestPreloadWritesWhatTheEngineReads preloads secrets into a new store,
// then reads them back through a fresh barrier and KV v2 engine, as the
// server would after a restart.
func TestPreloadWritesWhatTheEngineReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	initStore(t, dir, key)
	const n = 2500
	if err := (Preload{DataDir: dir, Key: key, MountUUID: "u-1", From: 0, To: n, ValueSize: 8, TxnSize: 1000}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bar := barrier.New(b)
	if err := bar.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	engine, err := kv.Factory(ctx, &logical.BackendConfig{Storage: logical.NewView(bar, "logical/u-1/"), Options: map[string]string{"version": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 999, 1000, n - 1} {
		resp, err := engine.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: fmt.Sprintf("data/bench/key-%d", i)})
		if err != nil || resp == nil {
			t.Fatalf("read key %d: %v, %v", i, resp, err)
		}
		raw, _ := json.Marshal(resp.Data)
		want := fmt.Sprintf(`"data":{"n":"%d","value":"vvvvvvvv"}`, i)
		if !strings.Contains(string(raw), want) {
			t.Fatalf("key %d reads %s, want it to hold %s", i, raw, want)
		}
	}
	resp, err := engine.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: fmt.Sprintf("data/bench/key-%d", n)})
	if err != nil || resp != nil {
		t.Fatalf("key %d was not preloaded, yet reads %v, %v", n, resp, err)
	}
}

func initStore(t *testing.T, dir string, key []byte) {
	t.Helper()
	b, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := barrier.New(b).Initialize(context.Background(), key); err != nil {
		t.Fatal(err)
	}
}
