package framework

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// FieldType is the type a route declares for a field; raw input is
// converted to it before a handler runs.
type FieldType int

// The field types. TypeDurationSecond accepts integer seconds or a Go
// duration string ("90s", "1h30m", "2d") and yields a time.Duration;
// TypeSignedDurationSecond does too but also accepts negative values (for
// settings where -1 means "off"). TypeLowerString is a string lower-cased
// and trimmed, for names that are case-insensitive.
const (
	TypeString FieldType = iota + 1
	TypeInt
	TypeBool
	TypeDurationSecond
	TypeMap          // map[string]any
	TypeKVPairs      // map[string]string
	TypeStringSlice  // []string from a JSON list or a comma-separated string
	TypeLowerStrings // like TypeStringSlice, lower-cased and trimmed, empties dropped
	TypeRaw          // passed through untouched
	TypeSignedDurationSecond
	TypeLowerString
)

func (t FieldType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "integer"
	case TypeBool:
		return "boolean"
	case TypeDurationSecond, TypeSignedDurationSecond:
		return "duration"
	case TypeLowerString:
		return "string"
	case TypeMap:
		return "object"
	case TypeKVPairs:
		return "map of strings"
	case TypeStringSlice, TypeLowerStrings:
		return "list of strings"
	default:
		return "value"
	}
}

// FieldSchema declares one field of a route.
type FieldSchema struct {
	Type        FieldType
	Default     any
	Description string
	// Required fields must be present and non-empty; a missing one is a 400.
	Required bool
	// Aliases are older names the field is also accepted under, such as
	// "ttl" for "token_ttl". The handler reads the field only under its own
	// name; when a request sets both, the field's own name wins, as in
	// Vault, and the response warns that the alias was ignored. A policy's
	// parameter rules treat every name of a field as the same parameter.
	Aliases []string
}

// convert turns raw input into the Go value of type t.
func convert(t FieldType, raw any) (any, error) {
	switch t {
	case TypeString:
		if _, ok := raw.(string); ok {
			return raw, nil // already boxed: boxing it again would allocate
		}
		return toString(raw)
	case TypeInt:
		return toInt(raw)
	case TypeBool:
		return toBool(raw)
	case TypeDurationSecond:
		return ParseDuration(raw)
	case TypeSignedDurationSecond:
		return ParseSignedDuration(raw)
	case TypeLowerString:
		return toLowerString(raw)
	case TypeMap:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object")
		}
		return m, nil
	case TypeKVPairs:
		return toKVPairs(raw)
	case TypeStringSlice:
		return toStrings(raw, false)
	case TypeLowerStrings:
		return toStrings(raw, true)
	default:
		return raw, nil
	}
}

func toString(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		// Not from JSON, but how a policy's HCL holds a whole number.
		return strconv.FormatInt(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("expected a string")
}

func toInt(raw any) (int, error) {
	switch v := raw.(type) {
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case float64:
		if v != float64(int(v)) {
			return 0, fmt.Errorf("expected an integer, got %v", v)
		}
		return int(v), nil
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", v.String())
		}
		return int(n), nil
	case string:
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("expected an integer, got %q", v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("expected an integer")
}

func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("expected a boolean, got %q", v)
		}
		return b, nil
	case json.Number, float64, int:
		n, err := toInt(v)
		if err != nil {
			return false, err
		}
		return n != 0, nil
	}
	return false, fmt.Errorf("expected a boolean")
}

// toLowerString is toString, trimmed and lower-cased.
func toLowerString(raw any) (string, error) {
	s, err := toString(raw)
	return strings.ToLower(strings.TrimSpace(s)), err
}

// ParseDuration accepts integer seconds (number or string), Go duration
// strings and a "d" suffix for days. Negative durations are rejected.
func ParseDuration(raw any) (time.Duration, error) {
	d, err := ParseSignedDuration(raw)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("duration must not be negative")
	}
	return d, err
}

// ParseSignedDuration is ParseDuration that also accepts negative values
// ("-1", "-30s").
func ParseSignedDuration(raw any) (time.Duration, error) {
	var d time.Duration
	switch v := raw.(type) {
	case nil:
		return 0, nil
	case time.Duration:
		d = v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return scaleDuration(n, time.Second)
		}
		if strings.HasSuffix(s, "d") {
			n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("expected a duration, got %q", v)
			}
			return scaleDuration(n, 24*time.Hour)
		}
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("expected a duration such as \"30m\" or a number of seconds, got %q", v)
		}
	default:
		n, err := toInt(v)
		if err != nil {
			return 0, fmt.Errorf("expected a duration such as \"30m\" or a number of seconds")
		}
		return scaleDuration(int64(n), time.Second)
	}
	return d, nil
}

// scaleDuration is n units, refusing what a time.Duration cannot hold
// rather than wrapping around (to a negative value, say).
func scaleDuration(n int64, unit time.Duration) (time.Duration, error) {
	if limit := int64(math.MaxInt64 / unit); n > limit || n < -limit {
		return 0, fmt.Errorf("duration is too long")
	}
	return time.Duration(n) * unit, nil
}

func toKVPairs(raw any) (map[string]string, error) {
	switch v := raw.(type) {
	case map[string]string:
		return v, nil
	case map[string]any:
		out := make(map[string]string, len(v))
		for k, x := range v {
			s, err := toString(x)
			if err != nil {
				return nil, fmt.Errorf("value of %q: %w", k, err)
			}
			out[k] = s
		}
		return out, nil
	case []any:
		out := map[string]string{}
		for _, x := range v {
			s, ok := x.(string)
			k, val, found := strings.Cut(s, "=")
			if !ok || !found {
				return nil, fmt.Errorf("expected key=value pairs")
			}
			out[k] = val
		}
		return out, nil
	case string:
		// One key=value pair, as the CLI sends `metadata=team=a` given once
		// (given twice it sends a list).
		k, val, found := strings.Cut(v, "=")
		if !found {
			return nil, fmt.Errorf("expected key=value pairs")
		}
		return map[string]string{k: val}, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("expected an object of strings")
}

func toStrings(raw any, lower bool) ([]string, error) {
	var parts []string
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case string:
		if v != "" {
			parts = strings.Split(v, ",")
		}
	case []string:
		parts = v
	case []any:
		for _, x := range v {
			s, err := toString(x)
			if err != nil {
				return nil, fmt.Errorf("expected a list of strings")
			}
			parts = append(parts, s)
		}
	default:
		return nil, fmt.Errorf("expected a list of strings")
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if lower {
			p = strings.ToLower(p)
		}
		if p == "" && lower {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// FieldData is the validated input of one request to one route.
// Safe for use by one goroutine.
type FieldData struct {
	input  input
	schema map[string]*FieldSchema
	// set holds the converted value of each field the request set, and
	// the name it arrived under (its own or an alias). A route declares a
	// handful of fields, so a scan beats building two maps per request.
	set []setField
	// buf backs set for the usual few fields, saving an allocation.
	buf [4]setField
	// raw is the merged input, built on the first call to Raw.
	raw map[string]any
}

type setField struct {
	name, from string
	v          any
}

// input is a request's body fields with the route's path captures laid
// over them (a capture wins over a body field of the same name), read
// without merging the two into a new map.
type input struct {
	data map[string]any
	caps []capture
	// match is the regexp's submatches; caps index into it.
	match []string
}

// capture is one named group of a route's pattern.
type capture struct {
	name string
	idx  int
}

// get returns the input under key: a capture (set even when empty, so
// that a body field can never stand in for a path segment the policy
// check did not see), else the body field, else nil.
func (in *input) get(key string) any {
	for _, c := range in.caps {
		if c.name == key {
			return in.match[c.idx]
		}
	}
	return in.data[key]
}

// newFieldData converts every declared field present in the input (under
// its own name or, failing that, an alias), returning a 400-class error
// naming the first field that does not convert.
func newFieldData(in input, schema map[string]*FieldSchema, fields []namedField) (*FieldData, error) {
	d := &FieldData{input: in, schema: schema}
	d.set = d.buf[:0]
	for _, f := range fields {
		name, s := f.name, f.schema
		key, v := lookupField(&d.input, name, s)
		if v == nil {
			if s.Required {
				return nil, logical.InvalidRequest("missing required field %q", name)
			}
			continue
		}
		out, err := convert(s.Type, v)
		if err != nil {
			return nil, logical.InvalidRequest("field %q: %v", key, err)
		}
		if s.Required && out == "" {
			return nil, logical.InvalidRequest("field %q must not be empty", name)
		}
		d.set = append(d.set, setField{name: name, from: key, v: out})
	}
	return d, nil
}

// lookup returns the field the request set under name (its own name), or
// nil.
func (d *FieldData) lookup(name string) *setField {
	for i := range d.set {
		if d.set[i].name == name {
			return &d.set[i]
		}
	}
	return nil
}

// from is the name the input used for field name, "" when not set.
func (d *FieldData) from(name string) string {
	if f := d.lookup(name); f != nil {
		return f.from
	}
	return ""
}

// lookupField returns the input for field name and the key it came from:
// the field's own name when set (not null), else the first alias set.
func lookupField(in *input, name string, s *FieldSchema) (string, any) {
	if v := in.get(name); v != nil {
		return name, v
	}
	for _, alias := range s.Aliases {
		if v := in.get(alias); v != nil {
			return alias, v
		}
	}
	return name, nil
}

// Get returns the converted value of a declared field, its default when the
// request did not set it, or the zero value of its type. It panics on a name
// the route did not declare, which is a bug in the engine.
func (d *FieldData) Get(name string) any {
	v, _ := d.GetOk(name)
	return v
}

// GetOk is Get that also reports whether the request set the field.
func (d *FieldData) GetOk(name string) (any, bool) {
	s, ok := d.schema[name]
	if !ok {
		panic(fmt.Errorf("%w: %q", ErrUnknownField, name))
	}
	if f := d.lookup(name); f != nil {
		return f.v, true
	}
	if s.Default != nil {
		return s.Default, false
	}
	return zero(s.Type), false
}

// Declared reports whether the route declares a field called name (its own
// name, not an alias), for helpers shared by routes with different fields.
func (d *FieldData) Declared(name string) bool {
	_, ok := d.schema[name]
	return ok
}

// SetAs returns the name under which the request set a declared field: its
// own name, or the alias it arrived as (so that a read can report an older
// name the way Vault does). It returns "" when the request did not set the
// field and panics on a name the route did not declare.
func (d *FieldData) SetAs(name string) string {
	if _, ok := d.schema[name]; !ok {
		panic(fmt.Errorf("%w: %q", ErrUnknownField, name))
	}
	return d.from(name)
}

// String, Int, Bool, Duration, Strings and KVPairs are typed shorthands for Get.
func (d *FieldData) String(name string) string          { return d.Get(name).(string) }
func (d *FieldData) Int(name string) int                { return d.Get(name).(int) }
func (d *FieldData) Bool(name string) bool              { return d.Get(name).(bool) }
func (d *FieldData) Duration(name string) time.Duration { return d.Get(name).(time.Duration) }
func (d *FieldData) Strings(name string) []string       { return d.Get(name).([]string) }
func (d *FieldData) KVPairs(name string) map[string]string {
	return d.Get(name).(map[string]string)
}

// Raw returns the whole request input, for routes that take arbitrary data
// (such as a KV write).
// It merges the captures over the body once, on the first call.
func (d *FieldData) Raw() map[string]any {
	if d.raw == nil {
		in := &d.input
		d.raw = make(map[string]any, len(in.data)+len(in.caps))
		for k, v := range in.data {
			d.raw[k] = v
		}
		for _, c := range in.caps {
			d.raw[c.name] = in.match[c.idx]
		}
	}
	return d.raw
}

func zero(t FieldType) any {
	switch t {
	case TypeString:
		return ""
	case TypeInt:
		return 0
	case TypeBool:
		return false
	case TypeDurationSecond, TypeSignedDurationSecond:
		return time.Duration(0)
	case TypeLowerString:
		return ""
	case TypeMap:
		return map[string]any(nil)
	case TypeKVPairs:
		return map[string]string(nil)
	case TypeStringSlice, TypeLowerStrings:
		return []string(nil)
	}
	return nil
}
