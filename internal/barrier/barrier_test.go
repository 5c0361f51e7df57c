package barrier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// unsealed returns an initialised, unsealed barrier over p and its key.
func unsealed(t testing.TB, p physical.Backend) (*barrier.Barrier, []byte) {
	t.Helper()
	ctx := context.Background()
	b := barrier.New(p)
	key := newKey(t)
	if err := b.Initialize(ctx, key); err != nil {
		t.Fatal(err)
	}
	if !b.Sealed() {
		t.Fatal("barrier unsealed after Initialize")
	}
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	return b, key
}

func put(t testing.TB, s logical.Storage, key, val string) {
	t.Helper()
	if err := s.Put(context.Background(), &logical.StorageEntry{Key: key, Value: []byte(val)}); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t testing.TB, s logical.Storage, key string) string {
	t.Helper()
	e, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if e == nil {
		t.Fatalf("Get(%q): missing", key)
	}
	return string(e.Value)
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	cases := map[string]string{
		"kv/data/app":  "s3cr3t",
		"empty":        "",
		"binary/value": "\x00\xff\x01",
	}
	for key, val := range cases {
		t.Run(key, func(t *testing.T) {
			put(t, b, key, val)
			if got := get(t, b, key); got != val {
				t.Fatalf("got %q, want %q", got, val)
			}
			raw, err := p.Get(ctx, key)
			if err != nil || raw == nil {
				t.Fatalf("raw Get: %v", err)
			}
			if val != "" && bytes.Contains(raw.Value, []byte(val)) {
				t.Fatal("plaintext visible in physical storage")
			}
			if raw.Value[0] != 1 || len(raw.Value) != 1+4+12+len(val)+16 {
				t.Fatalf("unexpected ciphertext layout: %x", raw.Value)
			}
		})
	}
	if e, err := b.Get(ctx, "missing"); e != nil || err != nil {
		t.Fatalf("Get(missing) = %v, %v", e, err)
	}
	if err := b.Delete(ctx, "kv/data/app"); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "kv/data/app"); e != nil || err != nil {
		t.Fatalf("Get after Delete = %v, %v", e, err)
	}
	names, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"binary/", "core/", "empty"}; !slices.Equal(names, want) {
		t.Fatalf("List = %q, want %q", names, want)
	}
}

func TestValueBoundToPath(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	put(t, b, "a/secret", "for a only")
	raw, _ := p.Get(ctx, "a/secret")
	if err := p.Put(ctx, &physical.Entry{Key: "b/secret", Value: raw.Value}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "b/secret"); !errors.Is(err, barrier.ErrCorrupt) {
		t.Fatalf("Get of moved value: err = %v, want ErrCorrupt", err)
	}
}

func TestTamperedValues(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	put(t, b, "k", "value")
	raw, _ := p.Get(ctx, "k")
	flip := func(i int) []byte {
		v := bytes.Clone(raw.Value)
		v[i] ^= 1
		return v
	}
	cases := map[string]struct {
		value []byte
		want  error
	}{
		"version":      {flip(0), barrier.ErrCorrupt},
		"unknown term": {flip(4), barrier.ErrUnknownTerm},
		"nonce":        {flip(6), barrier.ErrCorrupt},
		"ciphertext":   {flip(len(raw.Value) - 20), barrier.ErrCorrupt},
		"tag":          {flip(len(raw.Value) - 1), barrier.ErrCorrupt},
		"truncated":    {raw.Value[:20], barrier.ErrCorrupt},
		"empty":        {[]byte{}, barrier.ErrCorrupt},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := p.Put(ctx, &physical.Entry{Key: "t", Value: tc.value}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(ctx, "t"); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, key := unsealed(t, p)
	put(t, b, "old", "written under term 1")
	term, _, n, err := b.KeyStatus()
	if err != nil || term != 1 || n != 1 {
		t.Fatalf("KeyStatus = %d, %d, %v; want term 1, 1 encryption", term, n, err)
	}
	for want := uint32(2); want <= 3; want++ {
		got, err := b.Rotate(ctx)
		if err != nil || got != want {
			t.Fatalf("Rotate = %d, %v; want %d", got, err, want)
		}
	}
	put(t, b, "new", "written under term 3")
	raw, _ := p.Get(ctx, "new")
	if raw.Value[4] != 3 {
		t.Fatalf("new value written under term %d, want 3", raw.Value[4])
	}
	term, _, n, _ = b.KeyStatus()
	if term != 3 || n != 1 {
		t.Fatalf("KeyStatus = term %d, %d encryptions; want 3, 1", term, n)
	}

	// The rotated keyring must survive a seal and unseal.
	b.Seal()
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"old": "written under term 1", "new": "written under term 3"} {
		if got := get(t, b, k); got != want {
			t.Fatalf("Get(%q) = %q, want %q", k, got, want)
		}
	}
	if term, _, _, _ := b.KeyStatus(); term != 3 {
		t.Fatalf("term after unseal = %d, want 3", term)
	}
}

func TestUnsealKeys(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, key := unsealed(t, p)
	put(t, b, "k", "v")
	b.Seal()
	wrong := bytes.Clone(key)
	wrong[0] ^= 1
	cases := map[string]struct {
		key  []byte
		want error
	}{
		"wrong key": {wrong, barrier.ErrBadKey},
		"short key": {key[:16], barrier.ErrBadKey},
		"nil key":   {nil, barrier.ErrBadKey},
		"right key": {key, nil},
	}
	for _, name := range []string{"wrong key", "short key", "nil key", "right key"} {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			err := b.Unseal(ctx, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unseal err = %v, want %v", err, tc.want)
			}
			if b.Sealed() != (tc.want != nil) {
				t.Fatalf("Sealed = %v after Unseal err %v", b.Sealed(), err)
			}
		})
	}
	if err := b.Unseal(ctx, wrong); err != nil {
		t.Fatalf("Unseal while unsealed = %v, want nil", err)
	}
	if get(t, b, "k") != "v" {
		t.Fatal("value lost")
	}
}

func TestInitialize(t *testing.T) {
	ctx := context.Background()
	b := barrier.New(inmem.New())
	if ok, err := b.Initialized(ctx); ok || err != nil {
		t.Fatalf("Initialized = %v, %v before Initialize", ok, err)
	}
	if err := b.Unseal(ctx, newKey(t)); !errors.Is(err, logical.ErrNotInitialized) {
		t.Fatalf("Unseal before init err = %v", err)
	}
	if err := b.Initialize(ctx, make([]byte, 16)); !errors.Is(err, barrier.ErrKeyLength) {
		t.Fatalf("Initialize(16 bytes) err = %v", err)
	}
	key := newKey(t)
	if err := b.Initialize(ctx, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Initialized(ctx); !ok || err != nil {
		t.Fatalf("Initialized = %v, %v after Initialize", ok, err)
	}
	if err := b.Initialize(ctx, key); !errors.Is(err, barrier.ErrAlreadyInitialized) {
		t.Fatalf("second Initialize err = %v", err)
	}
}

func TestSealedErrors(t *testing.T) {
	ctx := context.Background()
	b, _ := unsealed(t, inmem.New())
	put(t, b, "k", "v")
	b.Seal()
	if !b.Sealed() {
		t.Fatal("not sealed after Seal")
	}
	ops := map[string]func() error{
		"Get":    func() error { _, err := b.Get(ctx, "k"); return err },
		"Put":    func() error { return b.Put(ctx, &logical.StorageEntry{Key: "k"}) },
		"Delete": func() error { return b.Delete(ctx, "k") },
		"List":   func() error { _, err := b.List(ctx, ""); return err },
		"Transaction": func() error {
			return b.Transaction(ctx, []logical.TxnOp{{Delete: true, Entry: &logical.StorageEntry{Key: "k"}}})
		},
		"Rotate":    func() error { _, err := b.Rotate(ctx); return err },
		"KeyStatus": func() error { _, _, _, err := b.KeyStatus(); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			if err := op(); !errors.Is(err, logical.ErrSealed) {
				t.Fatalf("err = %v, want ErrSealed", err)
			}
		})
	}
}

func TestReservedKeys(t *testing.T) {
	ctx := context.Background()
	b, _ := unsealed(t, inmem.New())
	for _, key := range []string{"core/keyring", "core/seal-config"} {
		t.Run(key, func(t *testing.T) {
			if _, err := b.Get(ctx, key); !errors.Is(err, barrier.ErrReservedKey) {
				t.Fatalf("Get err = %v", err)
			}
			if err := b.Put(ctx, &logical.StorageEntry{Key: key}); !errors.Is(err, barrier.ErrReservedKey) {
				t.Fatalf("Put err = %v", err)
			}
			if err := b.Delete(ctx, key); !errors.Is(err, barrier.ErrReservedKey) {
				t.Fatalf("Delete err = %v", err)
			}
		})
	}
}

func TestTransaction(t *testing.T) {
	ctx := context.Background()
	backends := map[string]physical.Backend{
		"transactional": inmem.New(),
		"ordered":       plainBackend{inmem.New()},
	}
	for name, p := range backends {
		t.Run(name, func(t *testing.T) {
			b, _ := unsealed(t, p)
			put(t, b, "gone", "x")
			err := logical.ApplyTxn(ctx, b, []logical.TxnOp{
				{Entry: &logical.StorageEntry{Key: "t/1", Value: []byte("one")}},
				{Entry: &logical.StorageEntry{Key: "t/2", Value: []byte("two")}},
				{Delete: true, Entry: &logical.StorageEntry{Key: "gone"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if get(t, b, "t/1") != "one" || get(t, b, "t/2") != "two" {
				t.Fatal("transaction writes not readable")
			}
			if e, _ := b.Get(ctx, "gone"); e != nil {
				t.Fatal("transaction delete not applied")
			}
			err = b.Transaction(ctx, []logical.TxnOp{
				{Entry: &logical.StorageEntry{Key: "t/3", Value: []byte("x")}},
				{Entry: &logical.StorageEntry{Key: "core/keyring", Value: []byte("x")}},
			})
			if !errors.Is(err, barrier.ErrReservedKey) {
				t.Fatalf("err = %v, want ErrReservedKey", err)
			}
			if e, _ := b.Get(ctx, "t/3"); e != nil {
				t.Fatal("rejected transaction partly applied")
			}
		})
	}
}

// plainBackend hides Transactional, to test the ordered fallback.
type plainBackend struct{ physical.Backend }

func TestNoPlaintextInBoltFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, key := unsealed(t, p)
	secret := "correct-horse-battery-staple-" + fmt.Sprint(os.Getpid())
	put(t, b, "kv/data/db", secret)
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, b, "kv/data/db2", secret)
	b.Seal()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("kv/data/db")) {
		t.Fatal("key names not found in the file; the test is not reading the right file")
	}
	for name, needle := range map[string][]byte{"secret": []byte(secret), "unseal key": key} {
		if bytes.Contains(raw, needle) {
			t.Fatalf("%s found in plaintext in %s", name, bolt.FileName)
		}
	}
}

func BenchmarkBarrierGet(b *testing.B) {
	ctx := context.Background()
	br, _ := unsealed(b, inmem.New())
	put(b, br, "bench/key", string(make([]byte, 256)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Get(ctx, "bench/key"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBarrierPut(b *testing.B) {
	ctx := context.Background()
	br, _ := unsealed(b, inmem.New())
	e := &logical.StorageEntry{Key: "bench/key", Value: make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Put(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// Readers and writers racing Rotate and Seal must see either a value or
// ErrSealed, never a torn keyring. Run with -race to make this meaningful.
func TestConcurrentRotateAndSeal(t *testing.T) {
	ctx := context.Background()
	b, key := unsealed(t, inmem.New())
	put(t, b, "k", "v")
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 200 {
				k := fmt.Sprintf("w%d/%d", w, i%10)
				err := b.Put(ctx, &logical.StorageEntry{Key: k, Value: []byte("v")})
				if err == nil {
					_, err = b.Get(ctx, k)
				}
				if err != nil && !errors.Is(err, logical.ErrSealed) {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 20 {
		if _, err := b.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		b.Seal()
		if err := b.Unseal(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if get(t, b, "k") != "v" {
		t.Fatal("value lost")
	}
}

// Exists answers from the stored ciphertext: present, absent, a value
// that would not decrypt counts as present (its read fails), and sealed
// or reserved keys are refused as Get refuses them.
func TestExists(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	put(t, b, "k", "v")
	if err := p.Put(ctx, &physical.Entry{Key: "tampered", Value: []byte("not a barrier value")}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"k": true, "missing": false, "tampered": true} {
		if got, err := b.Exists(ctx, key); err != nil || got != want {
			t.Fatalf("Exists(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	if got, err := logical.NewView(b, "k").Exists(ctx, ""); err != nil || !got {
		t.Fatalf("View.Exists = %v, %v; want true", got, err)
	}
	if _, err := b.Exists(ctx, "core/keyring"); !errors.Is(err, barrier.ErrReservedKey) {
		t.Fatalf("Exists(reserved) err = %v", err)
	}
	b.Seal()
	if _, err := b.Exists(ctx, "k"); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("Exists while sealed err = %v, want ErrSealed", err)
	}
}
