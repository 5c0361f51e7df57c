package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"sync"
	"time"
)

// hashPrefix starts every HMAC a device writes, as in Vault.
const hashPrefix = "hmac-sha256:"

// Salt HMACs strings with one device's key. Safe for concurrent use. The
// key never leaves the Salt except through the barrier that stores it.
type Salt struct {
	pool sync.Pool
}

// NewSalt returns a Salt over key, which it keeps.
func NewSalt(key []byte) *Salt {
	k := append([]byte(nil), key...)
	return &Salt{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// Hash returns "hmac-sha256:<hex>" of s, as sys/audit-hash reports it.
func (s *Salt) Hash(str string) string {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	_, _ = h.Write([]byte(str))
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	s.pool.Put(h)
	buf := make([]byte, len(hashPrefix)+hex.EncodedLen(len(out)))
	copy(buf, hashPrefix)
	hex.Encode(buf[len(hashPrefix):], out)
	return string(buf)
}

// hashValue returns a copy of v with every string in it HMAC'd; numbers,
// booleans and nulls stay as they are, map keys are kept, and v itself is
// never modified. A value of another Go type is hashed as its JSON.
func hashValue(v any, h func(string) string) any {
	switch x := v.(type) {
	case nil, bool, int, int64, int32, uint, uint64, uint32, float64, float32, json.Number, time.Duration:
		return x
	case string:
		return h(x)
	case []byte:
		return h(base64.StdEncoding.EncodeToString(x))
	case time.Time:
		return h(x.Format(time.RFC3339Nano))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = hashValue(e, h)
		}
		return out
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = h(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = hashValue(e, h)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = h(e)
		}
		return out
	}
	// Structs and other shapes: through JSON, so that no field escapes.
	b, err := json.Marshal(v)
	if err != nil {
		return h("unencodable value")
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return h(string(b))
	}
	return hashValue(generic, h)
}

// hashMap is hashValue for a data map, keeping keys listed in clear (the
// mount's audit_non_hmac_*_keys) as they are at the top level.
func hashMap(m map[string]any, h func(string) string, clear []string) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if contains(clear, k) {
			out[k] = v
			continue
		}
		out[k] = hashValue(v, h)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
