package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// fill puts n keys shaped like Coffer's (nested folders, keys that are
// also folder names, bytes around '/') and returns them sorted.
func fill(t testing.TB, b physical.Backend, n int) []string {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	parts := []string{"a", "a.", "a0", "b", "core", "logical", "sys", "x!"}
	for len(seen) < n {
		var k strings.Builder
		for d := r.IntN(4); d >= 0; d-- {
			k.WriteString(parts[r.IntN(len(parts))])
			if d > 0 {
				k.WriteByte('/')
			}
		}
		fmt.Fprintf(&k, "%d", r.IntN(n))
		key := k.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		if err := b.Put(ctx, &physical.Entry{Key: key, Value: []byte("v-" + key)}); err != nil {
			t.Fatal(err)
		}
	}
	keys := make([]string, 0, n)
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func walkAll(t *testing.T, b physical.Backend, start string) []string {
	t.Helper()
	var got []string
	if err := Walk(context.Background(), b, start, func(k string) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWalkOrderAndStart(t *testing.T) {
	t.Parallel()
	b := inmem.New()
	keys := fill(t, b, 500)
	if got := walkAll(t, b, ""); !slices.Equal(got, keys) {
		t.Fatalf("walk: %d keys, want %d in byte order", len(got), len(keys))
	}
	for _, start := range []string{keys[0], keys[137], keys[137] + "\x00", "b/", "a/", "core", "zzz", keys[len(keys)-1]} {
		i, _ := slices.BinarySearch(keys, start)
		if got := walkAll(t, b, start); !slices.Equal(got, keys[i:]) {
			t.Errorf("start %q: %d keys, want the %d at or after it", start, len(got), len(keys)-i)
		}
	}
}

func TestCopyAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, dst := range map[string]physical.Backend{"transactional": inmem.New(), "puts only": putsOnly{inmem.New()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := inmem.New()
			keys := fill(t, src, 1000)
			var progress []int
			res, err := Copy(ctx, src, dst, Options{BatchSize: 64, BatchBytes: 300, Progress: func(n int) { progress = append(progress, n) }})
			if err != nil || res.Copied != len(keys) || res.Resume != "" {
				t.Fatalf("copy: %+v %v", res, err)
			}
			if len(progress) != (len(keys)+63)/64 || progress[len(progress)-1] != len(keys) {
				t.Fatalf("progress %v", progress)
			}
			sum, err := Verify(ctx, src, dst, true)
			if err != nil || sum.Keys != len(keys) || sum.Checksum == [32]byte{} {
				t.Fatalf("verify: %+v %v", sum, err)
			}
			for _, k := range []string{keys[0], keys[500], keys[999]} {
				e, err := dst.Get(ctx, k)
				if err != nil || e == nil || string(e.Value) != "v-"+k {
					t.Fatalf("%s: %+v %v", k, e, err)
				}
			}
		})
	}
}

func TestVerifyFindsDifferences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := map[string]struct {
		change func(dst physical.Backend, keys []string) error
		values bool
		want   string
	}{
		"missing key":  {func(d physical.Backend, k []string) error { return d.Delete(ctx, k[10]) }, false, "is missing from the destination"},
		"missing last": {func(d physical.Backend, k []string) error { return d.Delete(ctx, k[len(k)-1]) }, false, "is missing from the destination"},
		"extra key": {func(d physical.Backend, _ []string) error {
			return d.Put(ctx, &physical.Entry{Key: "zz/extra", Value: []byte("x")})
		}, false, `the destination has key "zz/extra"`},
		"changed value": {func(d physical.Backend, k []string) error {
			return d.Put(ctx, &physical.Entry{Key: k[42], Value: []byte("tampered")})
		}, true, "the value of key"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, dst := inmem.New(), inmem.New()
			keys := fill(t, src, 200)
			if _, err := Copy(ctx, src, dst, Options{}); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(dst, keys); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(ctx, src, dst, tc.values)
			if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want ErrMismatch containing %q", err, tc.want)
			}
		})
	}
	// Without values, a changed value goes unnoticed: that is what the
	// checksum is for.
	src, dst := inmem.New(), inmem.New()
	keys := fill(t, src, 50)
	if _, err := Copy(ctx, src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	_ = dst.Put(ctx, &physical.Entry{Key: keys[3], Value: []byte("tampered")})
	if s, err := Verify(ctx, src, dst, false); err != nil || s.Keys != 50 {
		t.Fatalf("keys only: %+v %v", s, err)
	}
}

// TestCopyResume fails the destination part way, then resumes from the key
// Copy reported: the result is a complete copy.
func TestCopyResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := inmem.New()
	keys := fill(t, src, 1000)
	dst := &failing{Backend: inmem.New(), after: 5}
	res, err := Copy(ctx, src, dst, Options{BatchSize: 100})
	if !errors.Is(err, errInjected) || res.Copied != 500 || res.Resume != keys[500] {
		t.Fatalf("failed copy: %+v %v; want 500 copied, resume at %q", res, err, keys[500])
	}
	if _, err := Verify(ctx, src, dst, false); !errors.Is(err, ErrMismatch) {
		t.Fatalf("verify of a partial copy: %v", err)
	}
	dst.after = 1 << 30
	res, err = Copy(ctx, src, dst, Options{BatchSize: 100, Start: res.Resume})
	if err != nil || res.Copied != 500 {
		t.Fatalf("resumed copy: %+v %v", res, err)
	}
	if s, err := Verify(ctx, src, dst, true); err != nil || s.Keys != 1000 {
		t.Fatalf("verify: %+v %v", s, err)
	}
}

func TestCopySourceErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := inmem.New()
	keys := fill(t, src, 300)
	res, err := Copy(ctx, vanishing{src, keys[150]}, inmem.New(), Options{BatchSize: 100})
	if err == nil || !strings.Contains(err.Error(), "vanished from the source") || res.Resume != keys[100] || res.Copied != 100 {
		t.Fatalf("vanished key: %+v %v", res, err)
	}
	res, err = Copy(ctx, disordered{src}, inmem.New(), Options{})
	if !errors.Is(err, ErrOrder) || res.Copied != 0 {
		t.Fatalf("out of order: %+v %v", res, err)
	}
}

func TestEmptyAndReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, b := range map[string]physical.Backend{"transactional": inmem.New(), "puts only": putsOnly{inmem.New()}} {
		if ok, err := Empty(ctx, b); !ok || err != nil {
			t.Fatalf("%s: new backend not empty: %v", name, err)
		}
		fill(t, b, 1200)
		if ok, _ := Empty(ctx, b); ok {
			t.Fatalf("%s: filled backend empty", name)
		}
		if n, err := Reset(ctx, b); n != 1200 || err != nil {
			t.Fatalf("%s: reset %d %v", name, n, err)
		}
		if ok, _ := Empty(ctx, b); !ok {
			t.Fatalf("%s: not empty after reset", name)
		}
	}
}

// putsOnly hides inmem's Transaction.
type putsOnly struct{ b *inmem.Backend }

func (p putsOnly) Get(ctx context.Context, k string) (*physical.Entry, error) { return p.b.Get(ctx, k) }
func (p putsOnly) Put(ctx context.Context, e *physical.Entry) error           { return p.b.Put(ctx, e) }
func (p putsOnly) Delete(ctx context.Context, k string) error                 { return p.b.Delete(ctx, k) }
func (p putsOnly) List(ctx context.Context, k string) ([]string, error)       { return p.b.List(ctx, k) }

var errInjected = errors.New("injected write failure")

// failing fails every transaction after the first `after`.
type failing struct {
	*inmem.Backend
	after int64
	n     atomic.Int64
}

func (f *failing) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	if f.n.Add(1) > f.after {
		return errInjected
	}
	return f.Backend.Transaction(ctx, ops)
}

// vanishing lists a key it then cannot find.
type vanishing struct {
	*inmem.Backend
	gone string
}

func (v vanishing) Get(ctx context.Context, k string) (*physical.Entry, error) {
	if k == v.gone {
		return nil, nil
	}
	return v.Backend.Get(ctx, k)
}

// disordered lists the root in reverse.
type disordered struct{ *inmem.Backend }

func (d disordered) List(ctx context.Context, p string) ([]string, error) {
	names, err := d.Backend.List(ctx, p)
	if p == "" {
		slices.Reverse(names)
	}
	return names, err
}

// TestCopyInterrupted cancels a copy part way (as Ctrl-C does): whenever it
// stops, every key before Result.Resume is in the destination, so a run
// with start = Resume completes the copy.
func TestCopyInterrupted(t *testing.T) {
	t.Parallel()
	src := inmem.New()
	keys := fill(t, src, 1000)
	for _, after := range []int{100, 300, 900} {
		ctx, cancel := context.WithCancel(context.Background())
		dst := inmem.New()
		res, err := Copy(ctx, src, dst, Options{BatchSize: 100, Progress: func(n int) {
			if n >= after {
				cancel()
			}
		}})
		cancel()
		if !errors.Is(err, context.Canceled) || res.Resume == "" {
			t.Fatalf("after %d: %+v %v; want context.Canceled and a key to resume from", after, res, err)
		}
		i, _ := slices.BinarySearch(keys, res.Resume)
		for _, k := range keys[:i] {
			if e, _ := dst.Get(context.Background(), k); e == nil {
				t.Fatalf("after %d: %q, before the resume key %q, was not copied", after, k, res.Resume)
			}
		}
		if _, err := Copy(context.Background(), src, dst, Options{Start: res.Resume}); err != nil {
			t.Fatal(err)
		}
		if s, err := Verify(context.Background(), src, dst, true); err != nil || s.Keys != len(keys) {
			t.Fatalf("after %d, resumed: %+v %v", after, s, err)
		}
	}
}
