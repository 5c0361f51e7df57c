package seal

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// KeySize is the length of the unseal key in bytes.
const KeySize = 32

// DecodeShare decodes an unseal key share as an operator pastes it: hex or
// standard base64, surrounding white space ignored. Hex is tried first, but
// only kept when it yields a plausible share length (KeySize bytes for a
// single key, KeySize+1 for a Shamir share); otherwise the text is read as
// base64, since some base64 strings are also valid hex. It returns
// ErrInvalidShare, with no trace of the input, when neither works.
func DecodeShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && plausibleShare(b) {
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !plausibleShare(b) {
		return nil, ErrInvalidShare
	}
	return b, nil
}

func plausibleShare(b []byte) bool { return len(b) == KeySize || len(b) == KeySize+1 }
