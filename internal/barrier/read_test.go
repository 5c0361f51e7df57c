package barrier_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/cache"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// TestBeginRead: a read of several keys decrypts each as Get does, over a
// backend with reads of its own (cache over bolt) and one without
// (inmem); it refuses the reserved keys and a value moved from another
// path, and a sealed barrier.
func TestBeginRead(t *testing.T) {
	ctx := context.Background()
	bk, err := bolt.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	for name, p := range map[string]physical.Backend{"cache over bolt": cache.New(bk, 0), "inmem": inmem.New()} {
		t.Run(name, func(t *testing.T) {
			b, _ := unsealed(t, p)
			put(t, b, "a/secret", "for a only")
			put(t, b, "a/empty", "")
			raw, _ := p.Get(ctx, "a/secret")
			if err := p.Put(ctx, &physical.Entry{Key: "b/secret", Value: raw.Value}); err != nil {
				t.Fatal(err)
			}
			r, err := b.BeginRead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Done()
			if v, ok, err := r.Get(ctx, "a/secret"); err != nil || !ok || string(v) != "for a only" {
				t.Fatalf("a/secret: %q %v %v", v, ok, err)
			}
			if v, ok, err := r.Get(ctx, "a/empty"); err != nil || !ok || len(v) != 0 {
				t.Fatalf("a/empty: %q %v %v", v, ok, err)
			}
			if _, ok, err := r.Get(ctx, "a/missing"); err != nil || ok {
				t.Fatalf("a/missing: %v %v", ok, err)
			}
			if _, _, err := r.Get(ctx, "b/secret"); !errors.Is(err, barrier.ErrCorrupt) {
				t.Fatalf("moved value: err = %v, want ErrCorrupt", err)
			}
			if _, _, err := r.Get(ctx, "core/keyring"); !errors.Is(err, barrier.ErrReservedKey) {
				t.Fatalf("keyring: err = %v, want ErrReservedKey", err)
			}
			b.Seal()
			if _, _, err := r.Get(ctx, "a/secret"); !errors.Is(err, logical.ErrSealed) {
				t.Fatalf("Get once sealed: err = %v, want ErrSealed", err)
			}
			if _, err := b.BeginRead(ctx); !errors.Is(err, logical.ErrSealed) {
				t.Fatalf("BeginRead sealed: err = %v, want ErrSealed", err)
			}
		})
	}
}
