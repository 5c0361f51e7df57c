package barrier

import (
	"context"

	"github.com/cofferhq/coffer/internal/logical"
)

// EncryptValue returns plaintext sealed for path exactly as Put would
// store it, without storing it: for handing a value to another holder of
// the same keyring (a node joining the cluster proves it holds the key by
// opening such a value). It fails with logical.ErrSealed while sealed.
func (b *Barrier) EncryptValue(ctx context.Context, path string, plaintext []byte) ([]byte, error) {
	e, err := b.encrypt(ctx, &logical.StorageEntry{Key: path, Value: plaintext})
	if err != nil {
		return nil, err
	}
	return e.Value, nil
}

// DecryptValue opens a value EncryptValue sealed for path; a value sealed
// for another path or under another keyring is an error wrapping
// ErrCorrupt (or ErrUnknownTerm).
func (b *Barrier) DecryptValue(path string, ciphertext []byte) ([]byte, error) {
	return b.decrypt(path, ciphertext)
}
