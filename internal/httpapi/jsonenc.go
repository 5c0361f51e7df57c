package httpapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/cofferhq/coffer/internal/logical"
)

// The envelope of every logical response is written by hand rather than
// through encoding/json's reflection over maps, which took a sixth of a KV
// read's server CPU (docs/BENCHMARKS.md, issue 9). The output is byte for
// byte what json.NewEncoder(w).Encode(env) writes: keys in sorted order,
// strings escaped as encoding/json escapes them (HTML characters
// included), a trailing newline. Any value of a type not listed below is
// handed to json.Marshal, so the fast path only ever covers types whose
// encoding it reproduces exactly; the differential tests and the fuzz test
// hold it to that.

// maxFastDepth bounds the nesting appendValue follows itself; deeper
// values (or a map that contains itself) go to json.Marshal, which
// reports cycles instead of overflowing the stack.
const maxFastDepth = 64

// appendEnvelope appends env as encoding/json's Encoder writes it.
func appendEnvelope(buf []byte, env *logical.Envelope) ([]byte, error) {
	var err error
	buf = append(buf, `{"request_id":`...)
	buf = appendString(buf, env.RequestID)
	buf = append(buf, `,"lease_id":`...)
	buf = appendString(buf, env.LeaseID)
	buf = append(buf, `,"renewable":`...)
	buf = strconv.AppendBool(buf, env.Renewable)
	buf = append(buf, `,"lease_duration":`...)
	buf = strconv.AppendInt(buf, env.LeaseDuration, 10)
	buf = append(buf, `,"data":`...)
	if buf, err = appendMap(buf, env.Data, 0); err != nil {
		return nil, err
	}
	buf = append(buf, `,"wrap_info":`...)
	if env.WrapInfo == nil {
		buf = append(buf, "null"...)
	} else if buf, err = appendMarshal(buf, env.WrapInfo); err != nil {
		return nil, err
	}
	buf = append(buf, `,"warnings":`...)
	buf = appendStrings(buf, env.Warnings)
	buf = append(buf, `,"auth":`...)
	if env.Auth == nil {
		buf = append(buf, "null"...)
	} else if buf, err = appendMarshal(buf, env.Auth); err != nil {
		return nil, err
	}
	return append(buf, "}\n"...), nil
}

// appendValue appends v as json.Marshal would.
func appendValue(buf []byte, v any, depth int) ([]byte, error) {
	if depth > maxFastDepth {
		return appendMarshal(buf, v)
	}
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return appendString(buf, x), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case json.RawMessage:
		return appendRaw(buf, x, true)
	case logical.StoredJSON:
		return appendRaw(buf, json.RawMessage(x), false)
	case map[string]any:
		return appendMap(buf, x, depth)
	case map[string]string:
		return appendStringMap(buf, x), nil
	case []string:
		return appendStrings(buf, x), nil
	case []any:
		if x == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(buf, ']'), nil
	}
	return appendMarshal(buf, v)
}

// appendMarshal is the fallback: json.Marshal's own bytes.
func appendMarshal(buf []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// appendRaw appends stored JSON as encoding/json does: compacted, HTML
// characters escaped, and refused when invalid. Stored JSON written by
// json.Marshal is already in that form and is copied as it is; anything
// with a space, an HTML character or a U+2028/U+2029 (whose UTF-8 starts
// with 0xE2) takes json.Marshal's path. check is false only for
// logical.StoredJSON, which the server wrote valid and the barrier
// authenticated, so that a read does not scan the secret twice.
func appendRaw(buf []byte, raw json.RawMessage, check bool) ([]byte, error) {
	if raw == nil {
		return append(buf, "null"...), nil
	}
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return appendMarshal(buf, raw)
		}
	}
	if check && !json.Valid(raw) {
		return appendMarshal(buf, raw)
	}
	return append(buf, raw...), nil
}

// sortedKeys returns m's keys in order, in scratch when they fit.
func sortedKeys[V any](m map[string]V, scratch []string) []string {
	keys := scratch[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendMap(buf []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(buf, "null"...), nil
	}
	var scratch [16]string
	buf = append(buf, '{')
	for i, k := range sortedKeys(m, scratch[:]) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendString(buf, k), ':')
		var err error
		if buf, err = appendValue(buf, m[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

func appendStringMap(buf []byte, m map[string]string) []byte {
	if m == nil {
		return append(buf, "null"...)
	}
	var scratch [16]string
	buf = append(buf, '{')
	for i, k := range sortedKeys(m, scratch[:]) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(append(appendString(buf, k), ':'), m[k])
	}
	return append(buf, '}')
}

func appendStrings(buf []byte, s []string) []byte {
	if s == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, '[')
	for i, e := range s {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, e)
	}
	return append(buf, ']')
}

// appendString appends s as a JSON string escaped as encoding/json escapes
// it; anything beyond printable ASCII without '"', '\\' and HTML
// characters is left to json.Marshal.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// bufPool holds response buffers; a buffer that grew past maxPooledBuf
// (a large LIST, say) is left to the garbage collector instead.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
