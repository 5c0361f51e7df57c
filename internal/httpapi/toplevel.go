package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// topLevel renders an envelope in Vault's legacy shape for some sys/
// responses: every data field also appears at the top level of the body.
// A data field named like an envelope field is left out there, so the body
// never holds a key twice and the envelope's meaning is never shadowed.
type topLevel struct{ env envelope }

// envelopeFields are the JSON names of the envelope's own fields.
var envelopeFields = func() []string {
	t := reflect.TypeFor[envelope]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// MarshalJSON writes the data fields in sorted order, then the envelope.
func (t topLevel) MarshalJSON() ([]byte, error) {
	env, err := json.Marshal(t.env)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(t.env.Data))
	for k := range t.env.Data {
		if !slices.Contains(envelopeFields, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return env, nil
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Grow(2 * len(env))
	buf.WriteByte('{')
	for _, k := range keys {
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(t.env.Data[k])
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
		buf.WriteByte(',')
	}
	// The envelope is always a non-empty JSON object: continue after its '{'.
	buf.Write(env[1:])
	return buf.Bytes(), nil
}
