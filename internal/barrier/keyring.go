package barrier

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"sync/atomic"
	"time"
)

// keyringPath is where the keyring lives in physical storage, encrypted
// under the unseal key rather than under itself.
const keyringPath = "core/keyring"

// sealConfigPath is the seal's plaintext configuration; the barrier refuses
// to read or write it so the seal's metadata cannot be overwritten with
// ciphertext by a caller of the barrier.
const sealConfigPath = "core/seal-config"

// keyringTerm is the term written in the header of the keyring's own
// ciphertext: 0, which no data key ever has.
const keyringTerm = 0

// termKey is one data key. Its AEAD is built once because building it (the
// AES key schedule and GCM tables) costs more than a small encryption.
type termKey struct {
	term        uint32
	key         []byte
	installed   time.Time
	aead        cipher.AEAD
	encryptions atomic.Int64 // since this process unsealed; not persisted
}

// keyring is immutable once built, apart from the counters; Rotate builds a
// new one sharing the old terms.
type keyring struct {
	active *termKey
	terms  map[uint32]*termKey
}

func newTermKey(term uint32, key []byte, installed time.Time) (*termKey, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &termKey{term: term, key: key, installed: installed, aead: aead}, nil
}

// firstKeyring makes a keyring with one random key at term 1.
func firstKeyring(now time.Time) (*keyring, error) {
	tk, err := newTermKey(1, randomKey(), now)
	if err != nil {
		return nil, err
	}
	return &keyring{active: tk, terms: map[uint32]*termKey{1: tk}}, nil
}

// rotated returns a copy of k with a new random key one term above the
// active one, made active.
func (k *keyring) rotated(now time.Time) (*keyring, error) {
	next := k.active.term + 1
	if next == 0 {
		return nil, fmt.Errorf("key term would overflow")
	}
	tk, err := newTermKey(next, randomKey(), now)
	if err != nil {
		return nil, err
	}
	terms := maps.Clone(k.terms)
	terms[next] = tk
	return &keyring{active: tk, terms: terms}, nil
}

func (k *keyring) wipe() {
	for _, tk := range k.terms {
		wipe(tk.key)
		tk.aead = nil
	}
	clear(k.terms)
	k.active = nil
}

func randomKey() []byte {
	b := make([]byte, keySize)
	_, _ = rand.Read(b)
	return b
}

// storedKeyring is the JSON form of the keyring, only ever stored encrypted.
type storedKeyring struct {
	Version    int         `json:"version"`
	ActiveTerm uint32      `json:"active_term"`
	Keys       []storedKey `json:"keys"`
}

type storedKey struct {
	Term        uint32    `json:"term"`
	Value       []byte    `json:"value"`
	InstallTime time.Time `json:"install_time"`
}

// encrypt serialises the keyring and encrypts it under kek with the
// keyring's path as additional data. The plaintext buffer is wiped.
func (k *keyring) encrypt(kek []byte) ([]byte, error) {
	s := storedKeyring{Version: 1, ActiveTerm: k.active.term}
	for _, tk := range k.terms {
		s.Keys = append(s.Keys, storedKey{Term: tk.term, Value: tk.key, InstallTime: tk.installed})
	}
	pt, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode keyring: %w", err)
	}
	defer wipe(pt)
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	return seal(aead, keyringTerm, keyringPath, pt), nil
}

// decryptKeyring opens the stored keyring with kek. A wrong kek yields
// ErrBadKey; a keyring that decrypts but does not parse is corrupt.
func decryptKeyring(kek, ciphertext []byte) (*keyring, error) {
	if len(kek) != keySize {
		return nil, ErrBadKey
	}
	term, err := termOf(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	if term != keyringTerm {
		return nil, fmt.Errorf("read keyring: header term %d: %w", term, ErrCorrupt)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	pt, err := open(aead, keyringPath, ciphertext)
	if err != nil {
		return nil, ErrBadKey
	}
	defer wipe(pt)
	var s storedKeyring
	if err := json.Unmarshal(pt, &s); err != nil {
		return nil, fmt.Errorf("decode keyring: %w", ErrCorrupt)
	}
	return s.build()
}

func (s *storedKeyring) build() (*keyring, error) {
	k := &keyring{terms: map[uint32]*termKey{}}
	for _, sk := range s.Keys {
		if len(sk.Value) != keySize || sk.Term == keyringTerm {
			return nil, fmt.Errorf("keyring term %d is malformed: %w", sk.Term, ErrCorrupt)
		}
		tk, err := newTermKey(sk.Term, sk.Value, sk.InstallTime)
		if err != nil {
			return nil, err
		}
		k.terms[sk.Term] = tk
	}
	k.active = k.terms[s.ActiveTerm]
	if k.active == nil {
		return nil, fmt.Errorf("keyring has no key for active term %d: %w", s.ActiveTerm, ErrCorrupt)
	}
	return k, nil
}
