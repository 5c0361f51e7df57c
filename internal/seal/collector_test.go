package seal

import (
	"bytes"
	"errors"
	"testing"
)

// A joining node's collector: shares count towards the threshold, a
// combined key the check refuses is ErrInvalidKey with progress reset, the
// right shares give the key; a static configuration takes the key file's
// key only.
func TestKeyCollector(t *testing.T) {
	key, shares, err := newSplitKey(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, others, _ := newSplitKey(3, 2)
	isKey := func(k []byte) error {
		if !bytes.Equal(k, key) {
			return errors.New("no")
		}
		return nil
	}
	k, err := NewKeyCollector([]byte(`{"type":"shamir","secret_shares":3,"secret_threshold":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if done, err := k.Add([]byte("short"), isKey); done || !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("a malformed share: %v %v", done, err)
	}
	if done, err := k.Add(shares[0], isKey); done || err != nil || k.Status().Progress != 1 || k.Status().Nonce == "" {
		t.Fatalf("first share: %v %v %+v", done, err, k.Status())
	}
	if done, err := k.Add(others[1], isKey); done || !errors.Is(err, ErrInvalidKey) || k.Status().Progress != 0 {
		t.Fatalf("a share of another key: %v %v %+v", done, err, k.Status())
	}
	if _, err := k.Add(shares[2], isKey); err != nil {
		t.Fatal(err)
	}
	if done, err := k.Add(shares[1], isKey); !done || err != nil || !bytes.Equal(k.Key(), key) || k.Status().Sealed {
		t.Fatalf("the right shares: %v %v", done, err)
	}
	if _, err := k.Static(key, isKey); !errors.Is(err, ErrWrongSealType) {
		t.Fatalf("a static key on a shamir seal: %v", err)
	}
	k.Wipe()
	if k.Key() != nil {
		t.Fatal("Wipe kept the key")
	}
	s, err := NewKeyCollector([]byte(`{"type":"static","secret_shares":1,"secret_threshold":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(shares[0], isKey); !errors.Is(err, ErrWrongSealType) {
		t.Fatalf("a share on a static seal: %v", err)
	}
	if done, err := s.Static(others[0][:KeySize], isKey); done || !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("the wrong static key: %v %v", done, err)
	}
	if done, err := s.Static(key, isKey); !done || err != nil {
		t.Fatalf("the static key: %v %v", done, err)
	}
	for _, bad := range []string{`{"type":"shamir","secret_shares":1,"secret_threshold":3}`, `{"type":"kms"}`, `not json`} {
		if _, err := NewKeyCollector([]byte(bad)); err == nil {
			t.Fatalf("seal config %s accepted", bad)
		}
	}
}
