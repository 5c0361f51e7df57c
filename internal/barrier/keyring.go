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

// InitPendingPath, in physical storage, is written by an initialisation
// before anything else and removed once it has written everything: a store
// that holds it had an initialisation interrupted (the process killed, the
// machine down) and is not initialised, whatever else it holds; the next
// initialisation removes what the interrupted one wrote.
const InitPendingPath = "core/init-pending"

// keyringTerm is the term written in the header of the keyring's own
// ciphertext: 0, which no data key ever has.
const keyringTerm = 0

// termKey is one data key. Its AEAD is built once because building it (the
// AES key schedule and GCM tables) costs more than a small encryption.
type termKey struct {
	term      uint32
	key       []byte
	installed time.Time
	aead      cipher.AEAD
	// encryptions counts the values sealed under this key over its whole
	// life, across restarts (see counts.go).
	encryptions atomic.Int64
	// reserved is the count written in the stored keyring. encryptions
	// never passes it: a reservation is stored before it is used, so after
	// a crash the stored number is an upper bound of the true count.
	reserved atomic.Int64
}

// keyring is immutable once built, apart from the counters; Rotate and
// SetRotationConfig build a new one sharing the terms.
type keyring struct {
	active   *termKey
	terms    map[uint32]*termKey
	rotation RotationConfig
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
	return &keyring{active: tk, terms: map[uint32]*termKey{1: tk}, rotation: DefaultRotationConfig()}, nil
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
	return &keyring{active: tk, terms: terms, rotation: k.rotation}, nil
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
// Keyrings written before the counts and the rotation configuration were
// kept lack those fields and load with a zero count and the defaults.
type storedKeyring struct {
	Version    int             `json:"version"`
	ActiveTerm uint32          `json:"active_term"`
	Keys       []storedKey     `json:"keys"`
	Rotation   *storedRotation `json:"rotation_config,omitempty"`
}

type storedKey struct {
	Term        uint32    `json:"term"`
	Value       []byte    `json:"value"`
	InstallTime time.Time `json:"install_time"`
	// Encryptions is the key's reserved count: at least as many values as
	// were ever sealed under it.
	Encryptions int64 `json:"encryptions,omitempty"`
}

// encrypt serialises the keyring, with each term's reserved count, and
// encrypts it under kek with the keyring's path as additional data.
func (k *keyring) encrypt(kek []byte) ([]byte, error) {
	s := k.stored()
	return s.encrypt(kek)
}

// stored is the keyring's JSON form. Each key carries its reservation, never
// the live count, so a stored keyring never under-counts.
func (k *keyring) stored() *storedKeyring {
	s := &storedKeyring{Version: 1, ActiveTerm: k.active.term, Rotation: k.rotation.stored()}
	for _, tk := range k.terms {
		s.Keys = append(s.Keys, storedKey{Term: tk.term, Value: tk.key, InstallTime: tk.installed, Encryptions: tk.reserved.Load()})
	}
	return s
}

// encrypt serialises s and encrypts it under kek. The plaintext buffer is
// wiped.
func (s *storedKeyring) encrypt(kek []byte) ([]byte, error) {
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
		if sk.Encryptions < 0 {
			return nil, fmt.Errorf("keyring term %d has a negative count: %w", sk.Term, ErrCorrupt)
		}
		tk, err := newTermKey(sk.Term, sk.Value, sk.InstallTime)
		if err != nil {
			return nil, err
		}
		// After a crash the live count is lost; the reservation is the
		// worst case, so counting resumes from it.
		tk.encryptions.Store(sk.Encryptions)
		tk.reserved.Store(sk.Encryptions)
		k.terms[sk.Term] = tk
	}
	k.active = k.terms[s.ActiveTerm]
	if k.active == nil {
		return nil, fmt.Errorf("keyring has no key for active term %d: %w", s.ActiveTerm, ErrCorrupt)
	}
	k.rotation = s.Rotation.config()
	return k, nil
}
