package seal

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// progress is an unseal attempt's shares so far and its nonce.
type progress struct {
	shares [][]byte
	nonce  string
}

// add counts share under cfg and, once threshold distinct shares are in,
// returns the combined key (the caller wipes it) and resets the attempt. A
// share already given is ignored; a malformed one is ErrInvalidShare (not
// counted); shares that do not combine are ErrInvalidKey (reset).
func (p *progress) add(cfg *Config, share []byte) ([]byte, error) {
	if len(share) != shareLen(cfg.SecretThreshold) {
		return nil, ErrInvalidShare
	}
	for _, s := range p.shares {
		if sharesEqual(s, share) {
			return nil, nil
		}
	}
	if len(p.shares) == 0 {
		p.nonce = uuid.NewString()
	}
	p.shares = append(p.shares, append([]byte(nil), share...))
	if len(p.shares) < cfg.SecretThreshold {
		return nil, nil
	}
	key, err := Combine(p.shares)
	p.reset()
	if err != nil {
		// Two different shares with one index: at least one is wrong.
		return nil, ErrInvalidKey
	}
	return key, nil
}

func (p *progress) reset() {
	wipeAll(p.shares)
	p.shares = nil
	p.nonce = ""
}

// KeyCollector assembles the unseal key of a cluster this node does not
// hold the keyring of yet: a node joining a raft cluster, given the seal
// configuration with its join challenge. Shares follow Unseal's rules;
// the combined key is checked by a caller's verify (opening the
// challenge) instead of by a keyring. Not safe for concurrent use.
type KeyCollector struct {
	cfg Config
	p   progress
	key []byte
}

// NewKeyCollector parses the seal configuration raw (as stored at
// core/seal-config) and returns a collector for its key.
func NewKeyCollector(raw []byte) (*KeyCollector, error) {
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("decode the cluster's seal configuration: %w", err)
	}
	switch {
	case cfg.Type == TypeStatic && cfg.SecretThreshold == 1:
	case cfg.Type == TypeShamir && validParts(cfg.SecretShares, cfg.SecretThreshold):
	default:
		return nil, fmt.Errorf("the cluster's seal configuration (type %q, %d of %d) is not one this server knows", cfg.Type, cfg.SecretThreshold, cfg.SecretShares)
	}
	return &KeyCollector{cfg: cfg}, nil
}

// Add counts a share; once the shares combine into a key that verify
// accepts, it returns true and Key holds it. A key verify refuses is
// ErrInvalidKey (progress reset). Errors as Unseal's; ErrWrongSealType on
// a static seal.
func (k *KeyCollector) Add(share []byte, verify func(key []byte) error) (bool, error) {
	if k.key != nil {
		return true, nil
	}
	if k.cfg.Type != TypeShamir {
		return false, ErrWrongSealType
	}
	key, err := k.p.add(&k.cfg, share)
	if err != nil || key == nil {
		return false, err
	}
	return k.accept(key, verify)
}

// Static takes the static key of a static seal, as AutoUnseal does.
func (k *KeyCollector) Static(key []byte, verify func(key []byte) error) (bool, error) {
	if k.cfg.Type != TypeStatic {
		return false, ErrWrongSealType
	}
	return k.accept(append([]byte(nil), key...), verify)
}

func (k *KeyCollector) accept(key []byte, verify func(key []byte) error) (bool, error) {
	if err := verify(key); err != nil {
		clear(key)
		return false, ErrInvalidKey
	}
	k.key = key
	return true, nil
}

// Key is the verified key, nil before; Wipe clears it.
func (k *KeyCollector) Key() []byte { return k.key }

// Wipe discards the shares and the key.
func (k *KeyCollector) Wipe() {
	k.p.reset()
	clear(k.key)
	k.key = nil
}

// Reset discards the shares of the current attempt.
func (k *KeyCollector) Reset() { k.p.reset() }

// Status is the seal status of the joining node: initialised with the
// cluster's configuration, sealed until a key is verified.
func (k *KeyCollector) Status() Status {
	return Status{Type: k.cfg.Type, Initialized: true, Sealed: k.key == nil, T: k.cfg.SecretThreshold, N: k.cfg.SecretShares,
		Progress: len(k.p.shares), Nonce: k.p.nonce}
}
