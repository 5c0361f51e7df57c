package token

import (
	"encoding/binary"
	"errors"
)

// errClaims marks sealed batch claims that do not decode. Only a token
// sealed under the store's key ever reaches the decoder, so this means a
// bug or a stolen key, never user input; callers treat it as "not a token".
var errClaims = errors.New("malformed batch token claims")

// batchClaims is what a batch token carries.
type batchClaims struct {
	Parent   string
	Policies []string
	Path     string
	Meta     map[string]string
	Display  string
	Created  int64 // Unix seconds
	TTL      int64 // seconds
	Role     string
	CIDRs    []string
	// Entity is the entity ID. Claims of version 1 tokens (sealed before
	// tokens carried entities) have none.
	Entity string
}

// encode is a compact binary form (token version 2): JSON cost most of a batch token's
// verification. Fields in a fixed order; strings as a uvarint length and
// bytes; lists and the map as a uvarint count and their items.
func (c *batchClaims) encode() []byte {
	b := make([]byte, 0, 128)
	b = binary.AppendVarint(b, c.Created)
	b = binary.AppendVarint(b, c.TTL)
	for _, s := range []string{c.Parent, c.Path, c.Display, c.Role} {
		b = appendString(b, s)
	}
	b = appendStrings(b, c.Policies)
	b = appendStrings(b, c.CIDRs)
	b = binary.AppendUvarint(b, uint64(len(c.Meta)))
	for k, v := range c.Meta {
		b = appendString(appendString(b, k), v)
	}
	return appendString(b, c.Entity)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// claimsReader decodes what encode wrote, failing on anything short,
// oversized or left over.
type claimsReader struct {
	b   []byte
	err error
}

func (r *claimsReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errClaims
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length or count, which can never exceed the bytes left
// (every item takes at least one), so no input makes a large allocation.
func (r *claimsReader) count() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)-n) {
		r.err = errClaims
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *claimsReader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *claimsReader) strings() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
	}
	return out
}

// decodeClaims decodes claims sealed in a token of the given version: 1
// has no entity, 2 (what encode writes) ends with it.
func decodeClaims(b []byte, version byte) (batchClaims, error) {
	r := &claimsReader{b: b}
	c := batchClaims{Created: r.varint(), TTL: r.varint()}
	c.Parent, c.Path, c.Display, c.Role = r.string(), r.string(), r.string(), r.string()
	c.Policies = r.strings()
	c.CIDRs = r.strings()
	if n := r.count(); n > 0 {
		c.Meta = make(map[string]string, n)
		for range n {
			k := r.string()
			c.Meta[k] = r.string()
		}
	}
	if version >= 2 {
		c.Entity = r.string()
	}
	if r.err != nil || len(r.b) != 0 {
		return batchClaims{}, errClaims
	}
	return c, nil
}
