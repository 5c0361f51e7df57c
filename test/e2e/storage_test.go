package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// TestBoltFileHoldsNoPlaintext writes a secret through the whole server into
// a bbolt file, restarts on the same file, and checks that neither the
// secret value nor the root token appears anywhere in the file's bytes.
func TestBoltFileHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const value = "correct-horse-battery-staple-7f3a9c"
	p, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := startSealed(t, p)
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.keys, s.root = init.Keys, init.RootToken
	for _, k := range s.keys[:2] {
		if _, err := s.client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(context.Background(), "myapp/db", map[string]any{"password": value}); err != nil {
		t.Fatal(err)
	}
	if err := s.core.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 {
		t.Fatal("empty database file")
	}
	for name, needle := range map[string]string{"secret value": value, "root token": s.root} {
		if bytes.Contains(raw, []byte(needle)) {
			t.Errorf("the %s is in the database file in plaintext", name)
		}
	}

	// The same file opens again, unseals with the same shares and still
	// holds the secret and the root token.
	p2, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	s2 := startSealed(t, p2)
	s2.keys = s.keys
	for _, k := range s2.keys[1:3] {
		if _, err := s2.client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s2.client.SetToken(s.root)
	got, err := s2.client.KVv2("secret").Get(context.Background(), "myapp/db")
	if err != nil || got.Data["password"] != value {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}

func TestRotateKeyring(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "before", map[string]any{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	before, err := s.client.Sys().KeyStatus()
	if err != nil || before.Term != 1 {
		t.Fatalf("key status: %+v %v", before, err)
	}
	if err := s.client.Sys().Rotate(); err != nil {
		t.Fatal(err)
	}
	after, err := s.client.Sys().KeyStatus()
	if err != nil || after.Term != 2 {
		t.Fatalf("after rotate: %+v %v", after, err)
	}
	if got, err := s.client.KVv2("secret").Get(ctx, "before"); err != nil || got.Data["a"] != "1" {
		t.Fatalf("old term must still decrypt: %+v %v", got, err)
	}
}
