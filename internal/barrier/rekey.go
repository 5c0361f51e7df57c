package barrier

import (
	"context"
	"crypto/subtle"
	"fmt"

	"github.com/cofferhq/coffer/internal/physical"
)

// Rekey re-encrypts the keyring under newKey, a new 32-byte unseal key, and
// stores it in one physical transaction together with also (the seal's
// record of how the new key is split, so that the two can never disagree).
// The data keys do not change, so no stored value is rewritten. Only once
// the transaction has committed does the barrier hold newKey in place of
// the old one (Rotate needs it); a failed transaction leaves storage and
// memory as they were, with the old key still the only one that opens the
// keyring. A transaction that reports failure but did commit (it is read
// back to find out) counts as success.
//
// also may not touch the keyring's own key. Rekey fails with an error
// wrapping logical.ErrSealed when sealed, ErrKeyLength for a key of the
// wrong size, and ErrNotTransactional when the physical backend cannot
// apply several writes atomically: with separate writes a crash between
// them could leave a keyring no share set opens. newKey is copied; the
// caller may wipe its copy.
func (b *Barrier) Rekey(ctx context.Context, newKey []byte, also ...physical.TxnOp) error {
	if len(newKey) != keySize {
		return ErrKeyLength
	}
	t, ok := b.p.(physical.Transactional)
	if !ok {
		return ErrNotTransactional
	}
	for i, op := range also {
		if op.Entry == nil || op.Entry.Key == keyringPath {
			return fmt.Errorf("rekey: extra write %d: %w", i, ErrReservedKey)
		}
	}
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.mu.RLock()
	kr := b.keyring
	b.mu.RUnlock()
	if kr == nil {
		return sealedErr()
	}
	ct, err := kr.encrypt(newKey)
	if err != nil {
		return err
	}
	ops := append([]physical.TxnOp{{Entry: &physical.Entry{Key: keyringPath, Value: ct}}}, also...)
	if err := t.Transaction(ctx, ops); err != nil && !b.storedUnder(context.WithoutCancel(ctx), newKey) {
		return fmt.Errorf("store rekeyed keyring: %w", err)
	}
	kek := append([]byte(nil), newKey...)
	b.mu.Lock()
	old := b.kek
	b.kek = kek
	b.mu.Unlock()
	wipe(old)
	return nil
}

// storedUnder reports whether the stored keyring opens with key. A write
// can fail after it has committed (a lost reply); the new key must then be
// kept, for it alone opens the keyring from now on.
func (b *Barrier) storedUnder(ctx context.Context, key []byte) bool {
	e, err := b.p.Get(ctx, keyringPath)
	if err != nil || e == nil {
		return false
	}
	kr, err := decryptKeyring(key, e.Value)
	if err != nil {
		return false
	}
	kr.wipe()
	return true
}

// CheckUnsealKey reports whether key is the unseal key the barrier was
// unsealed with (or rekeyed to since), comparing in constant time. It reads
// no storage. It returns nil on a match, ErrBadKey otherwise, and an error
// wrapping logical.ErrSealed when sealed.
func (b *Barrier) CheckUnsealKey(key []byte) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.keyring == nil {
		return sealedErr()
	}
	if subtle.ConstantTimeCompare(key, b.kek) != 1 {
		return ErrBadKey
	}
	return nil
}
