package barrier_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// txnFault wraps a backend and fails its transactions: before applying
// them (lost), or after (committed, but the reply lost).
type txnFault struct {
	*inmem.Backend
	mode string // "", "lose" or "commit-then-fail"
	txns [][]physical.TxnOp
}

func (f *txnFault) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	f.txns = append(f.txns, ops)
	switch f.mode {
	case "lose":
		return errors.New("injected: transaction lost")
	case "commit-then-fail":
		if err := f.Backend.Transaction(ctx, ops); err != nil {
			return err
		}
		return errors.New("injected: reply lost after commit")
	}
	return f.Backend.Transaction(ctx, ops)
}

// noTxn hides the backend's Transaction method.
type noTxn struct{ p physical.Backend }

func (n noTxn) Get(ctx context.Context, k string) (*physical.Entry, error) { return n.p.Get(ctx, k) }
func (n noTxn) Put(ctx context.Context, e *physical.Entry) error           { return n.p.Put(ctx, e) }
func (n noTxn) Delete(ctx context.Context, k string) error                 { return n.p.Delete(ctx, k) }
func (n noTxn) List(ctx context.Context, p string) ([]string, error)       { return n.p.List(ctx, p) }

// opensWith reports whether a fresh barrier over p (a restart) unseals
// with key.
func opensWith(t *testing.T, p physical.Backend, key []byte) bool {
	t.Helper()
	err := barrier.New(p).Unseal(context.Background(), key)
	if err != nil && !errors.Is(err, barrier.ErrBadKey) {
		t.Fatal(err)
	}
	return err == nil
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	p := &txnFault{Backend: inmem.New()}
	b, oldKey := unsealed(t, p)
	put(t, b, "app/secret", "v1")
	newKey := newKey(t)
	extra := physical.TxnOp{Entry: &physical.Entry{Key: "core/seal-config", Value: []byte(`{"n":2}`)}}
	if err := b.Rekey(ctx, newKey, extra); err != nil {
		t.Fatal(err)
	}
	if len(p.txns) != 1 || len(p.txns[0]) != 2 {
		t.Fatalf("rekey wrote %d transactions (%v), want one holding the keyring and the extra write", len(p.txns), p.txns)
	}
	if e, _ := p.Backend.Get(ctx, "core/seal-config"); e == nil || string(e.Value) != `{"n":2}` {
		t.Fatalf("extra write not applied: %v", e)
	}
	if got := get(t, b, "app/secret"); got != "v1" {
		t.Fatalf("value after rekey = %q", got)
	}
	if err := b.CheckUnsealKey(newKey); err != nil {
		t.Fatalf("CheckUnsealKey(new) = %v", err)
	}
	if err := b.CheckUnsealKey(oldKey); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("CheckUnsealKey(old) = %v, want ErrBadKey", err)
	}
	if opensWith(t, p.Backend, oldKey) {
		t.Fatal("the old key still opens the keyring after a rekey")
	}
	// Rotate re-encrypts the keyring under the key in force: the new one.
	term, err := b.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := barrier.New(p.Backend)
	if err := r.Unseal(ctx, newKey); err != nil {
		t.Fatalf("restart with the new key after rotate: %v", err)
	}
	if got, _, _, _ := r.KeyStatus(); got != term {
		t.Fatalf("term after restart = %d, want %d", got, term)
	}
	if got := get(t, r, "app/secret"); got != "v1" {
		t.Fatalf("value after restart = %q", got)
	}
}

func TestRekeyFaults(t *testing.T) {
	cases := map[string]struct {
		mode    string
		wantErr bool
		opens   string // which key opens the keyring after a restart
	}{
		"transaction lost":              {"lose", true, "old"},
		"committed but reported failed": {"commit-then-fail", false, "new"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p := &txnFault{Backend: inmem.New()}
			b, oldKey := unsealed(t, p)
			nk := newKey(t)
			p.mode = tc.mode
			err := b.Rekey(ctx, nk)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Rekey err = %v, want error %v", err, tc.wantErr)
			}
			inForce, stale := oldKey, nk
			if tc.opens == "new" {
				inForce, stale = nk, oldKey
			}
			if err := b.CheckUnsealKey(inForce); err != nil {
				t.Fatalf("the running barrier holds another key than storage: %v", err)
			}
			if !opensWith(t, p.Backend, inForce) || opensWith(t, p.Backend, stale) {
				t.Fatalf("after a restart the %s key must open the keyring, and only it", tc.opens)
			}
		})
	}
}

func TestRekeyRefusals(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		setup func(t *testing.T) *barrier.Barrier
		key   []byte
		also  []physical.TxnOp
		want  error
	}{
		"sealed": {func(t *testing.T) *barrier.Barrier {
			b, _ := unsealed(t, inmem.New())
			b.Seal()
			return b
		}, newKey(t), nil, logical.ErrSealed},
		"short key": {func(t *testing.T) *barrier.Barrier {
			b, _ := unsealed(t, inmem.New())
			return b
		}, make([]byte, 16), nil, barrier.ErrKeyLength},
		"not transactional": {func(t *testing.T) *barrier.Barrier {
			p := inmem.New()
			unsealed(t, p)
			return barrier.New(noTxn{p})
		}, newKey(t), nil, barrier.ErrNotTransactional},
		"extra write to the keyring": {func(t *testing.T) *barrier.Barrier {
			b, _ := unsealed(t, inmem.New())
			return b
		}, newKey(t), []physical.TxnOp{{Entry: &physical.Entry{Key: "core/keyring"}}}, barrier.ErrReservedKey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := tc.setup(t).Rekey(ctx, tc.key, tc.also...); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckUnsealKeySealed(t *testing.T) {
	b, key := unsealed(t, inmem.New())
	b.Seal()
	if err := b.CheckUnsealKey(key); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("err = %v, want sealed", err)
	}
}

// TestRekeyConcurrent rekeys and rotates while values are written and
// read: every value stays readable, and after a restart the last key
// opens everything (run with -race).
func TestRekeyConcurrent(t *testing.T) {
	ctx := context.Background()
	p := inmem.New()
	b, _ := unsealed(t, p)
	keys := [][]byte{newKey(t), newKey(t), newKey(t)}
	done := make(chan error, 3)
	go func() {
		for _, k := range keys {
			if err := b.Rekey(ctx, k); err != nil {
				done <- err
				return
			}
			if _, err := b.Rotate(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for w := range 2 {
		go func() {
			for i := range 50 {
				k := fmt.Sprintf("w%d/%d", w, i)
				if err := b.Put(ctx, &logical.StorageEntry{Key: k, Value: []byte(k)}); err != nil {
					done <- err
					return
				}
				if e, err := b.Get(ctx, k); err != nil || e == nil || string(e.Value) != k {
					done <- fmt.Errorf("read back %s: %v %v", k, e, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	r := barrier.New(p)
	if err := r.Unseal(ctx, keys[2]); err != nil {
		t.Fatalf("restart with the last key: %v", err)
	}
	for w := range 2 {
		for i := range 50 {
			k := fmt.Sprintf("w%d/%d", w, i)
			if got := get(t, r, k); got != k {
				t.Fatalf("%s = %q after restart", k, got)
			}
		}
	}
}
