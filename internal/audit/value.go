package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// valueEnc writes the data of a request or response as JSON: every string
// in it HMAC'd with salt (nil: written as it is), except the strings whose
// nearest enclosing object key is in clear (a mount's
// audit_non_hmac_request_keys or …_response_keys: Vault's rule, so a
// listed key's strings and the strings of a list under it stay readable,
// while an object under it is judged by its own keys). Numbers, booleans
// and nulls stay as they are; object keys are never hashed.
type valueEnc struct {
	salt  *Salt
	clear []string
}

// appendData appends m as a JSON object. The caller omits an empty map.
func (e valueEnc) appendData(buf []byte, m map[string]any) []byte {
	return e.append(buf, m, false)
}

// str appends s, hashed unless plain.
func (e valueEnc) str(buf []byte, s string, plain bool) []byte {
	if plain || e.salt == nil {
		return appendJSONString(buf, s)
	}
	var sum [sha256.Size]byte
	e.salt.sumString(s, &sum)
	return append(appendSum(append(buf, '"'), &sum), '"')
}

// keyPlain reports whether strings under key stay in the clear.
func (e valueEnc) keyPlain(key string) bool {
	return len(e.clear) > 0 && slices.Contains(e.clear, key)
}

// append appends v; plain is whether its strings stay in the clear. A
// value of a Go type not listed is written as its JSON would be, hashed
// the same way, so that no field escapes. v is never modified.
func (e valueEnc) append(buf []byte, v any, plain bool) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case string:
		return e.str(buf, x, plain)
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
	case json.RawMessage:
		if out, ok := e.appendRaw(buf, x, plain); ok {
			return out
		}
	case logical.StoredJSON:
		if out, ok := e.appendRaw(buf, x, plain); ok {
			return out
		}
	case []byte:
		return e.str(buf, base64.StdEncoding.EncodeToString(x), plain)
	case time.Time:
		return e.str(buf, x.Format(time.RFC3339Nano), plain)
	case map[string]any:
		return e.appendMap(buf, x)
	case map[string]string:
		keys := sortedKeys(x)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(appendJSONString(buf, k), ':')
			buf = e.str(buf, x[k], e.keyPlain(k))
		}
		return append(buf, '}')
	case []any:
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = e.append(buf, el, plain)
		}
		return append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = e.str(buf, el, plain)
		}
		return append(buf, ']')
	}
	return e.appendOther(buf, v, plain)
}

func (e valueEnc) appendMap(buf []byte, m map[string]any) []byte {
	keys := sortedKeys(m)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendJSONString(buf, k), ':')
		buf = e.append(buf, m[k], e.keyPlain(k))
	}
	return append(buf, '}')
}

// appendOther writes floats, structs and other shapes through
// encoding/json, then hashes the strings of what came out.
func (e valueEnc) appendOther(buf []byte, v any, plain bool) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return e.str(buf, "unencodable value", plain)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var generic any
	if err := d.Decode(&generic); err != nil {
		return e.str(buf, string(b), plain)
	}
	return e.append(buf, generic, plain)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendRaw writes a JSON text (a KV secret as stored) without decoding
// it into maps: strings are hashed where they stand, keys and literals
// copied, objects keep their order (which is sorted when the text came
// from encoding/json, as a stored secret did). ok is false, and buf
// unchanged, when raw is not a JSON text this scanner accepts; the caller
// then decodes it.
func (e valueEnc) appendRaw(buf, raw []byte, plain bool) ([]byte, bool) {
	start := len(buf)
	out, rest, ok := e.rawValue(buf, raw, plain, 0)
	if !ok || len(skipSpace(rest)) != 0 {
		return buf[:start], false
	}
	return out, true
}

// maxRawDepth bounds the scanner's recursion; deeper texts are decoded.
const maxRawDepth = 64

func (e valueEnc) rawValue(buf, p []byte, plain bool, depth int) ([]byte, []byte, bool) {
	p = skipSpace(p)
	if len(p) == 0 || depth > maxRawDepth {
		return buf, p, false
	}
	switch c := p[0]; {
	case c == '{':
		return e.rawObject(buf, p[1:], depth)
	case c == '[':
		buf = append(buf, '[')
		p = skipSpace(p[1:])
		if len(p) > 0 && p[0] == ']' {
			return append(buf, ']'), p[1:], true
		}
		for {
			var ok bool
			if buf, p, ok = e.rawValue(buf, p, plain, depth+1); !ok {
				return buf, p, false
			}
			var done bool
			if buf, p, done, ok = separator(buf, p, ']'); done || !ok {
				return buf, p, ok
			}
		}
	case c == '"':
		raw, s, rest, ok := rawString(p)
		if !ok {
			return buf, p, false
		}
		if plain || e.salt == nil {
			return appendRawString(buf, raw, s), rest, true
		}
		var sum [sha256.Size]byte
		if raw != nil {
			e.salt.sumBytes(raw, &sum)
		} else {
			e.salt.sumString(s, &sum)
		}
		return append(appendSum(append(buf, '"'), &sum), '"'), rest, true
	default:
		n := 0
		for n < len(p) && isLiteralByte(p[n]) {
			n++
		}
		lit := p[:n]
		if n == 0 || !validLiteral(lit) {
			return buf, p, false
		}
		return append(buf, lit...), p[n:], true
	}
}

func (e valueEnc) rawObject(buf, p []byte, depth int) ([]byte, []byte, bool) {
	buf = append(buf, '{')
	p = skipSpace(p)
	if len(p) > 0 && p[0] == '}' {
		return append(buf, '}'), p[1:], true
	}
	for {
		p = skipSpace(p)
		if len(p) == 0 || p[0] != '"' {
			return buf, p, false
		}
		raw, key, rest, ok := rawString(p)
		if !ok {
			return buf, p, false
		}
		p = skipSpace(rest)
		if len(p) == 0 || p[0] != ':' {
			return buf, p, false
		}
		buf = append(appendRawString(buf, raw, key), ':')
		keyPlain := e.keyPlain(key)
		if raw != nil {
			keyPlain = e.rawKeyPlain(raw)
		}
		if buf, p, ok = e.rawValue(buf, p[1:], keyPlain, depth+1); !ok {
			return buf, p, false
		}
		var done bool
		if buf, p, done, ok = separator(buf, p, '}'); done || !ok {
			return buf, p, ok
		}
	}
}

// separator copies what follows an array element or an object member: a
// comma (more to come) or the closing byte (done); anything else is not
// JSON.
func separator(buf, p []byte, closing byte) (_, _ []byte, done, ok bool) {
	p = skipSpace(p)
	switch {
	case len(p) == 0:
		return buf, p, false, false
	case p[0] == ',':
		return append(buf, ','), p[1:], false, true
	case p[0] == closing:
		return append(buf, closing), p[1:], true, true
	}
	return buf, p, false, false
}

// rawString reads the JSON string p starts with. A string of printable
// ASCII without escapes comes back as raw, its bytes inside p (no copy);
// any other as s, decoded by encoding/json.
func rawString(p []byte) (raw []byte, s string, rest []byte, ok bool) {
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return p[1:i:i], "", p[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			end := stringEnd(p)
			if end < 0 || json.Unmarshal(p[:end], &s) != nil {
				return nil, "", p, false
			}
			return nil, s, p[end:], true
		}
	}
	return nil, "", p, false
}

// appendRawString appends what rawString read as a JSON string.
func appendRawString(buf, raw []byte, s string) []byte {
	if raw == nil {
		return appendJSONString(buf, s)
	}
	if bytes.ContainsAny(raw, "<>&") {
		return appendJSONString(buf, string(raw))
	}
	buf = append(buf, '"')
	buf = append(buf, raw...)
	return append(buf, '"')
}

// rawKeyPlain is keyPlain for a key rawString left in place.
func (e valueEnc) rawKeyPlain(raw []byte) bool {
	for _, k := range e.clear {
		if k == string(raw) {
			return true
		}
	}
	return false
}

// stringEnd returns the index after the closing quote of the JSON string
// p starts with, or -1.
func stringEnd(p []byte) int {
	for i := 1; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// validLiteral accepts true, false, null and JSON numbers.
func validLiteral(b []byte) bool {
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	return json.Valid(b) && (b[0] == '-' || b[0] >= '0' && b[0] <= '9')
}

func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r') {
		p = p[1:]
	}
	return p
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
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
