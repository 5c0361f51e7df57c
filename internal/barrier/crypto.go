package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"unsafe"
)

// The ciphertext layout: one version byte, a 4-byte big-endian key term, a
// 12-byte random nonce, then the GCM ciphertext and tag. The term lets old
// values decrypt after a rotation; the version leaves room for a new layout.
const (
	formatVersion = 1
	keySize       = 32
	nonceSize     = 12
	headerSize    = 1 + 4 + nonceSize
	tagSize       = 16
)

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create AES cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with a fresh random nonce, binding it to path as
// additional data so the result only decrypts at the same path.
func seal(aead cipher.AEAD, term uint32, path string, plaintext []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = formatVersion
	binary.BigEndian.PutUint32(out[1:5], term)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(out[5:headerSize])
	return aead.Seal(out, out[5:headerSize], plaintext, []byte(path))
}

// termOf reads the key term from a ciphertext header, so the caller can pick
// the right key before opening it.
func termOf(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < headerSize+tagSize {
		return 0, fmt.Errorf("ciphertext of %d bytes is too short: %w", len(ciphertext), ErrCorrupt)
	}
	if ciphertext[0] != formatVersion {
		return 0, fmt.Errorf("ciphertext format version %d is unknown: %w", ciphertext[0], ErrCorrupt)
	}
	return binary.BigEndian.Uint32(ciphertext[1:5]), nil
}

// open decrypts a ciphertext made by seal for the same path; termOf must
// have accepted it first.
func open(aead cipher.AEAD, path string, ciphertext []byte) ([]byte, error) {
	// The path is only read (AEAD implementations never write to the
	// additional data), so it is passed without the copy []byte(path)
	// would make on every read.
	pt, err := aead.Open(nil, ciphertext[5:headerSize], ciphertext[headerSize:], unsafe.Slice(unsafe.StringData(path), len(path)))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// wipe overwrites key material we hold. It is best effort: copies made by
// the runtime (GC moves, AES key schedules inside crypto/aes) are beyond it.
func wipe(b []byte) { clear(b) }
