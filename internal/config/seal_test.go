package config

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// FuzzDecodeKey: whatever a key file holds, decoding never panics, and an
// accepted key is 32 bytes that look random. (Refusals are fixed texts, so
// they cannot quote the content.)
func FuzzDecodeKey(f *testing.F) {
	random := []byte{0x00, 0x9f, 0x13, 0xe2, 0x41, 0x7c, 0xaa, 0x05, 0xd3, 0x68, 0x21, 0xfe, 0x3b, 0x90, 0x4d, 0xc7,
		0x12, 0x8e, 0x59, 0xb4, 0x06, 0xef, 0x73, 0x2a, 0x95, 0xcd, 0x38, 0x61, 0xf0, 0x1f, 0x84, 0xb9}
	for _, seed := range []string{
		hex.EncodeToString(random), base64.StdEncoding.EncodeToString(random) + "\n", base64.RawURLEncoding.EncodeToString(random),
		"0123456789abcdef0123456789ABCDEF", string(random), "", " \n", "====", hex.EncodeToString(make([]byte, 32)),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		key, problem := decodeKey(append([]byte(nil), raw...))
		if problem != "" {
			if key != nil {
				t.Fatal("a refusal returned a key")
			}
			return
		}
		if len(key) != staticSealKeySize || !looksRandom(key) {
			t.Fatalf("accepted %x", key)
		}
	})
}
