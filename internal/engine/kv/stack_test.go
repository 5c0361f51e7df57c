package kv

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/cache"
)

// TestReadsOverTheServerStack runs reads, deletes and destroys on a v2
// mount over what "coffer server" gives it on file storage (a view of the
// barrier over the ciphertext cache over bbolt and its log), where a
// read's metadata and version share one storage read: a deleted,
// destroyed or removed version is never served, the cache warm or cold.
func TestReadsOverTheServerStack(t *testing.T) {
	ctx := context.Background()
	bk, err := bolt.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	c := cache.New(bk, 0)
	bar := barrier.New(c)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := bar.Initialize(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := bar.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	b := newV2(logical.NewView(bar, "logical/x/"))
	// read returns the secret data a read answers: its JSON, or nil.
	read := func(s step) any {
		t.Helper()
		resp, err := do(t, b, s)
		if err != nil {
			t.Fatal(err)
		}
		if resp == nil {
			return nil
		}
		if d, ok := resp.Data["data"].(logical.StoredJSON); ok && d != nil {
			return string(d)
		}
		return resp.Data["data"]
	}
	mustDo(t, b, put("data/k", `{"data":{"v":"one"}}`), put("data/k", `{"data":{"v":"two"}}`))
	checks := []struct {
		do   []step
		read step
		want any
	}{
		{nil, get("data/k"), `{"v":"two"}`},
		{nil, getq("data/k", `{"version":"1"}`), `{"v":"one"}`},
		{[]step{del("data/k")}, get("data/k"), nil},
		{[]step{put("destroy/k", `{"versions":[1]}`)}, getq("data/k", `{"version":"1"}`), nil},
		{[]step{put("undelete/k", `{"versions":[2]}`)}, get("data/k"), `{"v":"two"}`},
		{[]step{del("metadata/k")}, get("data/k"), nil},
	}
	for i, ck := range checks {
		mustDo(t, b, ck.do...)
		warm := read(ck.read)
		c.Purge()
		if cold := read(ck.read); warm != ck.want || cold != ck.want {
			t.Fatalf("check %d: read %v (cache warm), %v (cold), want %v", i, warm, cold, ck.want)
		}
	}
}
