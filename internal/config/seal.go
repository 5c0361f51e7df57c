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

// ReadKey reads the static seal key from KeyFile. The file holds the 32
// key bytes raw, or as hex (64 characters) or standard/URL base64, with
// optional surrounding whitespace. Errors name the file and never include
// any of its content. The caller owns the returned slice and should zero it
// when done.
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
	key, ok := decodeKey(raw)
	clear(raw)
	if !ok {
		return nil, &Error{File: s.KeyFile, Kind: ErrSealKey,
			Msg: "seal key file must hold exactly 32 bytes: raw, hex (64 characters) or base64"}
	}
	return key, nil
}

// decodeKey tries exactly 32 raw bytes, then hex, then base64, then 32
// bytes after trimming whitespace.
func decodeKey(raw []byte) ([]byte, bool) {
	if len(raw) == staticSealKeySize {
		return bytes.Clone(raw), true
	}
	text := bytes.TrimSpace(raw)
	if len(text) == hex.EncodedLen(staticSealKeySize) {
		key := make([]byte, staticSealKeySize)
		if _, err := hex.Decode(key, text); err == nil {
			return key, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		key := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(key, text)
		if err == nil && n == staticSealKeySize {
			return key[:n], true
		}
		clear(key)
	}
	// A 32-character text key followed by a newline, as editors write it.
	if len(text) == staticSealKeySize {
		return bytes.Clone(text), true
	}
	return nil, false
}
