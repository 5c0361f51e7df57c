package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// GenerateSealKeyHint is how an operator makes a static seal key.
const GenerateSealKeyHint = "head -c 32 /dev/urandom | base64"

// minDistinctKeyBytes is the fewest distinct byte values a key may have.
// 32 random bytes nearly always have about 30; fewer than 8 happens by
// chance with a probability far below 1e-20, and means a made-up key such
// as 32 zero bytes.
const minDistinctKeyBytes = 8

// ReadKey reads the static seal key from KeyFile: 32 random bytes written
// as hex (64 characters) or base64 (standard or URL, padded or not), with
// optional surrounding whitespace. It refuses anything else, notably 32
// typed characters, which are a password rather than a key, and keys that
// decode to typed text or to a few repeated bytes. Errors name the file,
// say how to generate a key, and never include any of the file's content.
// The caller owns the returned slice and should zero it when done.
func (s *Seal) ReadKey() ([]byte, error) {
	f, err := os.Open(s.KeyFile)
	if err != nil {
		return nil, &Error{File: s.KeyFile, Kind: ErrRead, Msg: fmt.Sprintf("cannot read seal key: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSealKeyFileSize+1))
	if err != nil {
		return nil, &Error{File: s.KeyFile, Kind: ErrRead, Msg: "cannot read seal key"}
	}
	key, problem := decodeKey(raw)
	clear(raw)
	if problem != "" {
		return nil, &Error{File: s.KeyFile, Kind: ErrSealKey,
			Msg: problem + "; the seal key must be 32 random bytes written as base64 or hex: generate one with `" + GenerateSealKeyHint + "`"}
	}
	return key, nil
}

// decodeKey decodes hex, then base64, and checks the result looks random.
// It returns the key, or why the content is refused (never quoting it).
func decodeKey(raw []byte) (key []byte, problem string) {
	text := bytes.TrimSpace(raw)
	key = decodeText(text)
	switch {
	case key == nil && len(text) == staticSealKeySize:
		return nil, "the file holds 32 typed characters or raw bytes, not an encoded key"
	case key == nil:
		return nil, "the file does not hold a base64 or hex encoding of 32 bytes"
	case !looksRandom(key):
		clear(key)
		return nil, "the key decodes to typed text or repeated bytes, not random bytes"
	}
	return key, ""
}

func decodeText(text []byte) []byte {
	if len(text) == hex.EncodedLen(staticSealKeySize) {
		key := make([]byte, staticSealKeySize)
		if _, err := hex.Decode(key, text); err == nil {
			return key
		}
		clear(key)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		key := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(key, text)
		if err == nil && n == staticSealKeySize {
			return key[:n]
		}
		clear(key)
	}
	return nil
}

// looksRandom refuses keys made of printable ASCII only (the encoding of a
// typed password) or of a handful of byte values. Random keys pass except
// with negligible probability ((95/256)^32 < 2e-14 for the first).
func looksRandom(key []byte) bool {
	printable := true
	var seen [256]bool
	distinct := 0
	for _, c := range key {
		if c < 0x20 || c > 0x7e {
			printable = false
		}
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	return !printable && distinct >= minDistinctKeyBytes
}
