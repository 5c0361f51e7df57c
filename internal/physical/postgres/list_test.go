package postgres_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// TestListMatchesInmem compares List with the in-memory backend's on
// random keys made of the bytes the SQL's bounds turn on ('/', '0', the
// byte before '/', 0x00 and 0xff), for every prefix of every key: the
// index walk must neither skip a name nor repeat one.
func TestListMatchesInmem(t *testing.T) {
	t.Parallel()
	b := pgtest.Open(t, pgtest.URL(t))
	ref := inmem.New()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(10, 1))
	alphabet := []byte{'a', 'b', '/', '/', '0', '.', 0x00, 0xff}
	var ops []physical.TxnOp
	keys := map[string]bool{}
	for range 400 {
		k := make([]byte, 1+rng.IntN(7))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys[string(k)] = true
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: string(k), Value: k}})
	}
	if err := b.Transaction(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if err := ref.Transaction(ctx, ops); err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{"": true}
	for k := range keys {
		for i := range len(k) + 1 {
			prefixes[k[:i]] = true
		}
	}
	for p := range prefixes {
		got, err := b.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List(%q) = %q, inmem says %q", p, got, want)
		}
	}
	t.Logf("%d keys, %d prefixes compared", len(keys), len(prefixes))
}

func TestMaxParallelBoundsThePool(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	cases := map[string]struct{ set, want int }{
		"default": {0, postgres.DefaultMaxParallel},
		"set":     {3, 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: url, Table: pgtest.Table(t, url), MaxParallel: tc.set})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := postgres.MaxConns(b); int(got) != tc.want {
				t.Fatalf("pool max = %d, want %d", got, tc.want)
			}
		})
	}
}
