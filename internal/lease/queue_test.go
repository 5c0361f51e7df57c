package lease

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// TestQueueMatchesAModel drives the heap with random sets, drops and pops
// and checks it against a plain map after every step.
func TestQueueMatchesAModel(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	q := newQueue()
	model := map[string]int64{}
	for step := range 20000 {
		id := fmt.Sprint("l", r.IntN(300))
		switch op := r.IntN(10); {
		case op < 5:
			at := r.Int64N(1000)
			q.set(id, at)
			model[id] = at
		case op < 7:
			q.drop(id)
			delete(model, id)
		default:
			now := r.Int64N(1000)
			it, ok := q.popDue(now)
			var wantOK bool
			var min int64 = 1 << 62
			for _, at := range model {
				if at <= now {
					wantOK = true
				}
				if at < min {
					min = at
				}
			}
			if ok != wantOK {
				t.Fatalf("step %d: popDue(%d) ok=%v, want %v", step, now, ok, wantOK)
			}
			if ok {
				if it.at != min || model[it.id] != it.at {
					t.Fatalf("step %d: popped %+v, earliest is %d", step, it, min)
				}
				delete(model, it.id)
			}
		}
		if q.len() != len(model) {
			t.Fatalf("step %d: len %d, model %d", step, q.len(), len(model))
		}
	}
	// Draining yields every item in order.
	var got []int64
	for {
		it, ok := q.popDue(1 << 62)
		if !ok {
			break
		}
		got = append(got, it.at)
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) || len(got) != len(model) {
		t.Fatalf("drain out of order or short: %d of %d", len(got), len(model))
	}
}

func TestIndexNameRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		at   int64
		flag byte
		id   string
	}{
		"plain":   {1_900_000_000_000_000_000, flagExpiry, "database/creds/readonly/AbCdEfGhIjKlMnOpQrStUvWx"},
		"retry":   {1, flagRetry, "a/b/c"},
		"unicode": {42, flagExpiry, "db/creds/rôle/x"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			at, flag, id, err := parseIndexName(indexName(timeOf(tc.at), tc.flag, tc.id))
			if err != nil || at != tc.at || flag != tc.flag || id != tc.id {
				t.Fatalf("got %d %c %q %v", at, flag, id, err)
			}
		})
	}
	for _, bad := range []string{"", "0000000000000001", "zzzzzzzzzzzzzzzzeYQ", "0000000000000001e!!!"} {
		if _, _, _, err := parseIndexName(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
}
