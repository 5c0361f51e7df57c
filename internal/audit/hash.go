package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"slices"
	"strconv"
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

// appendHashed appends v to buf as JSON, with every string in it passed
// through h (nil: as it is); numbers, booleans and nulls stay as they are,
// map keys are kept and sorted, and v is never modified. A value of
// another Go type is written as its JSON would be, hashed the same way, so
// that no field escapes. Writing JSON directly, rather than copying v into
// hashed maps for encoding/json, keeps an audit line cheap.
func appendHashed(buf []byte, v any, h func(string) string) []byte {
	str := func(s string) []byte {
		if h != nil {
			s = h(s)
		}
		return appendJSONString(buf, s)
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return str(x)
	case bool:
		return strconv.AppendBool(buf, x)
	case int:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case int32:
		return strconv.AppendInt(buf, int64(x), 10)
	case uint64:
		return strconv.AppendUint(buf, x, 10)
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10)
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10)
	case time.Duration:
		return strconv.AppendInt(buf, int64(x), 10)
	case json.Number:
		if x == "" {
			return append(buf, '0')
		}
		return append(buf, x...)
	case []byte:
		return str(base64.StdEncoding.EncodeToString(x))
	case time.Time:
		return str(x.Format(time.RFC3339Nano))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(appendJSONString(buf, k), ':')
			buf = appendHashed(buf, x[k], h)
		}
		return append(buf, '}')
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		return appendHashed(buf, m, h)
	case []any:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendHashed(buf, e, h)
		}
		return append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendHashed(buf, e, h)
		}
		return append(buf, ']')
	}
	// Floats, structs and other shapes: through encoding/json.
	b, err := json.Marshal(v)
	if err != nil {
		return str("unencodable value")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var generic any
	if err := d.Decode(&generic); err != nil {
		return str(string(b))
	}
	return appendHashed(buf, generic, h)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// hashedData returns the JSON of a data map for an entry, keys listed in
// clear written as they are at the top level; nil for an empty map.
func hashedData(m map[string]any, h func(string) string) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	return appendHashed(nil, m, h)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
