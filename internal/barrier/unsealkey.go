package barrier

// SealWithUnsealKey encrypts plaintext under the unseal key itself rather
// than a keyring term, bound to ad (which must not be the keyring's path).
// Only a holder of the unseal key opens it (OpenWithKey): a node joining a
// cluster has the key once the operator's shares are in, but not yet the
// keyring, which it receives only after proving it holds the key. Fails
// while sealed.
func (b *Barrier) SealWithUnsealKey(ad string, plaintext []byte) ([]byte, error) {
	if ad == keyringPath {
		return nil, ErrReservedKey
	}
	b.mu.RLock() // held throughout: Seal wipes kek in place
	defer b.mu.RUnlock()
	if b.kek == nil {
		return nil, sealedErr()
	}
	aead, err := newAEAD(b.kek)
	if err != nil {
		return nil, err
	}
	return seal(aead, keyringTerm, ad, plaintext), nil
}

// OpenWithUnsealKey opens what SealWithUnsealKey sealed for ad with the
// unseal key held; ErrBadKey when it does not open (another key, another
// ad, altered). Fails while sealed.
func (b *Barrier) OpenWithUnsealKey(ad string, ciphertext []byte) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.kek == nil {
		return nil, sealedErr()
	}
	return OpenWithKey(b.kek, ad, ciphertext)
}

// OpenWithKey opens what SealWithUnsealKey sealed for ad, with key: the
// unseal key a joining node assembled. ErrBadKey when key is not the one,
// or the ciphertext was altered or sealed for another ad.
func OpenWithKey(key []byte, ad string, ciphertext []byte) ([]byte, error) {
	if len(key) != keySize || ad == keyringPath {
		return nil, ErrBadKey
	}
	if term, err := termOf(ciphertext); err != nil || term != keyringTerm {
		return nil, ErrBadKey
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	pt, err := open(aead, ad, ciphertext)
	if err != nil {
		return nil, ErrBadKey
	}
	return pt, nil
}
