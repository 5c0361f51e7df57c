package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"sync"
)

// hashPrefix starts every HMAC a device writes, as in Vault.
const hashPrefix = "hmac-sha256:"

// hashLen is the length of hashPrefix and the hex of one HMAC.
const hashLen = len(hashPrefix) + 2*sha256.Size

// Salt HMACs strings with one device's key. Safe for concurrent use. The
// key never leaves the Salt except through the barrier that stores it.
type Salt struct {
	pool sync.Pool
}

// hasher is one pooled HMAC state: Reset brings it back to the keyed
// start without hashing the key again, and the scratch space keeps a
// string's bytes and the sum off the heap.
type hasher struct {
	h       hash.Hash
	scratch []byte
	sum     [sha256.Size]byte
}

// NewSalt returns a Salt over key, which it keeps.
func NewSalt(key []byte) *Salt {
	k := append([]byte(nil), key...)
	return &Salt{pool: sync.Pool{New: func() any { return &hasher{h: hmac.New(sha256.New, k)} }}}
}

// Hash returns "hmac-sha256:<hex>" of s, as sys/audit-hash reports it.
func (s *Salt) Hash(str string) string {
	var out [sha256.Size]byte
	s.sumString(str, &out)
	return string(appendSum(make([]byte, 0, hashLen), &out))
}

// sumString puts the HMAC of str into out.
func (s *Salt) sumString(str string, out *[sha256.Size]byte) {
	h := s.pool.Get().(*hasher)
	h.scratch = append(h.scratch[:0], str...)
	s.finish(h, h.scratch, out)
}

// sumBytes puts the HMAC of b into out.
func (s *Salt) sumBytes(b []byte, out *[sha256.Size]byte) {
	h := s.pool.Get().(*hasher)
	s.finish(h, b, out)
}

func (s *Salt) finish(h *hasher, b []byte, out *[sha256.Size]byte) {
	h.h.Reset()
	_, _ = h.h.Write(b)
	h.h.Sum(h.sum[:0])
	*out = h.sum
	if cap(h.scratch) > 4<<10 {
		h.scratch = nil
	}
	s.pool.Put(h)
}

// appendSum appends "hmac-sha256:<hex>" of sum to buf.
func appendSum(buf []byte, sum *[sha256.Size]byte) []byte {
	buf = append(buf, hashPrefix...)
	n := len(buf)
	buf = append(buf, make([]byte, 2*sha256.Size)...)
	hex.Encode(buf[n:], sum[:])
	return buf
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
