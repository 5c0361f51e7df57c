package barrier_test

import (
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// What is sealed under the unseal key opens with that key and that ad
// only, never as the keyring, and not while sealed.
func TestSealWithUnsealKey(t *testing.T) {
	b, key := unsealed(t, inmem.New())
	ct, err := b.SealWithUnsealKey("core/raft/challenge", []byte("answer"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := barrier.OpenWithKey(key, "core/raft/challenge", ct); err != nil || string(pt) != "answer" {
		t.Fatalf("open with the key: %q %v", pt, err)
	}
	if pt, err := b.OpenWithUnsealKey("core/raft/challenge", ct); err != nil || string(pt) != "answer" {
		t.Fatalf("open with the held key: %q %v", pt, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"another key": func() ([]byte, error) { return barrier.OpenWithKey(newKey(t), "core/raft/challenge", ct) },
		"another ad":  func() ([]byte, error) { return barrier.OpenWithKey(key, "core/raft/tls", ct) },
		"as keyring":  func() ([]byte, error) { return barrier.OpenWithKey(key, barrier.KeyringPath, ct) },
		"short key":   func() ([]byte, error) { return barrier.OpenWithKey(key[:16], "core/raft/challenge", ct) },
		"altered": func() ([]byte, error) {
			c := append([]byte(nil), ct...)
			c[len(c)-1] ^= 1
			return barrier.OpenWithKey(key, "core/raft/challenge", c)
		},
		"not a message": func() ([]byte, error) { return barrier.OpenWithKey(key, "core/raft/challenge", []byte("junk")) },
	} {
		if _, err := open(); !errors.Is(err, barrier.ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	if _, err := b.SealWithUnsealKey(barrier.KeyringPath, []byte("x")); !errors.Is(err, barrier.ErrReservedKey) {
		t.Fatalf("sealing for the keyring's path: %v", err)
	}
	b.Seal()
	if _, err := b.SealWithUnsealKey("core/raft/challenge", []byte("x")); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("sealed: %v", err)
	}
	if _, err := b.OpenWithUnsealKey("core/raft/challenge", ct); !errors.Is(err, logical.ErrSealed) {
		t.Fatalf("sealed open: %v", err)
	}
}
