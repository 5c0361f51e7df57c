package barrier

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
)

// KeyringPath is where the keyring is stored in physical storage, for a
// caller that finds it in a snapshot of that storage (CheckKeyring).
const KeyringPath = keyringPath

// CheckKeyring reports whether ciphertext, a keyring as stored at
// KeyringPath (read from a snapshot), opens with the unseal key this
// barrier holds: nil when it does, ErrBadKey when it does not (another
// cluster's, or from before a rekey), an error wrapping logical.ErrSealed
// when sealed. Nothing is kept.
func (b *Barrier) CheckKeyring(ciphertext []byte) error {
	b.mu.RLock()
	kek := b.kek
	defer b.mu.RUnlock()
	if kek == nil {
		return sealedErr()
	}
	kr, err := decryptKeyring(kek, ciphertext)
	if err != nil {
		return err
	}
	kr.wipe()
	return nil
}

// KeyringOpens reports whether ciphertext, a keyring as stored at
// KeyringPath, opens with unsealKey. Nothing is kept.
func KeyringOpens(unsealKey, ciphertext []byte) bool {
	kr, err := decryptKeyring(unsealKey, ciphertext)
	if err != nil {
		return false
	}
	kr.wipe()
	return true
}

// ReloadKeyring reads the stored keyring again with the unseal key the
// barrier holds, after the storage beneath it was replaced (a snapshot
// restore). A term the old keyring also had keeps the higher of the two
// encryption counts. When the stored keyring does not open (ErrBadKey: the
// snapshot came with other keys) the barrier drops every key at once,
// without storing its counts, which would overwrite the restored keyring
// with the old one: it is sealed, and the caller seals the rest.
func (b *Barrier) ReloadKeyring(ctx context.Context) error {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.RLock()
	kek := b.kek
	b.mu.RUnlock()
	if kek == nil {
		return sealedErr()
	}
	e, err := b.p.Get(ctx, keyringPath)
	if err != nil {
		return fmt.Errorf("read keyring: %w", err)
	}
	if e == nil {
		return fmt.Errorf("reload keyring: %w", logical.ErrNotInitialized)
	}
	kr, err := decryptKeyring(kek, e.Value)
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.keyring
	if err != nil {
		if old != nil {
			old.wipe()
		}
		b.keyring = nil
		wipe(b.kek)
		b.kek = nil
		return err
	}
	for term, tk := range kr.terms {
		if o := old.termOrNil(term); o != nil {
			if n := o.encryptions.Load(); n > tk.encryptions.Load() {
				tk.encryptions.Store(n) // take() reserves more before the next use
			}
		}
	}
	b.keyring = kr
	if old != nil {
		old.wipe()
	}
	return nil
}

// SealBytes encrypts plaintext under the active key, bound to ad, for data
// kept outside storage (a snapshot's checksums). It fails with an error
// wrapping logical.ErrSealed when sealed.
func (b *Barrier) SealBytes(ctx context.Context, ad string, plaintext []byte) ([]byte, error) {
	e, err := b.encrypt(ctx, &logical.StorageEntry{Key: ad, Value: plaintext})
	if err != nil {
		return nil, err
	}
	return e.Value, nil
}

func (k *keyring) termOrNil(term uint32) *termKey {
	if k == nil {
		return nil
	}
	return k.terms[term]
}
