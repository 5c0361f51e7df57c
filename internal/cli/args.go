package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// parseData turns command arguments into a request body the way Vault's
// CLI does:
//
//   - a single "-" reads a JSON object from standard input;
//   - "@file" merges the JSON object in file;
//   - "key=value" sets a string, "key=@file" the file's contents, and
//     "key=-" standard input; a key given twice becomes a list.
//
// Errors name the argument by position, never by content, since a
// mistyped argument may be a secret.
func (e *env) parseData(args []string) (map[string]any, error) {
	if len(args) == 1 && args[0] == "-" {
		b, err := e.readStdin()
		if err != nil {
			return nil, err
		}
		return decodeObject(b)
	}
	out := map[string]any{}
	for i, a := range args {
		if err := e.addArg(out, a); err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
	}
	return out, nil
}

func (e *env) addArg(out map[string]any, a string) error {
	if strings.HasPrefix(a, "@") {
		b, err := os.ReadFile(a[1:])
		if err != nil {
			return err
		}
		obj, err := decodeObject(b)
		if err != nil {
			return err
		}
		for k, v := range obj {
			out[k] = v
		}
		return nil
	}
	key, value, ok := strings.Cut(a, "=")
	if !ok || key == "" {
		return errNotKeyValue
	}
	v, err := e.argValue(value)
	if err != nil {
		return err
	}
	switch prev := out[key].(type) {
	case nil:
		out[key] = v
	case []any:
		out[key] = append(prev, v)
	default:
		out[key] = []any{prev, v}
	}
	return nil
}

// argValue resolves "@file" and "-" in the value half of key=value.
func (e *env) argValue(value string) (string, error) {
	switch {
	case value == "-":
		b, err := e.readStdin()
		return string(b), err
	case strings.HasPrefix(value, "@"):
		b, err := os.ReadFile(value[1:])
		return string(b), err
	}
	return value, nil
}

// decodeObject parses a JSON object, keeping numbers exact.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		// Never the decoder's own message: it quotes the input, which may
		// be a secret ("invalid character 'h' ...").
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: invalid JSON at byte %d", errNotJSONObject, se.Offset)
		}
		return nil, errNotJSONObject
	}
	obj, ok := v.(map[string]any)
	if !ok || dec.More() {
		return nil, errNotJSONObject
	}
	return obj, nil
}

// parsePairs turns repeated k=v flag values (-metadata, -options,
// -custom-metadata) into a map; a repeated key keeps its last value.
func parsePairs(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for i, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-%s value %d: %w", flag, i+1, errNotKeyValue)
		}
		out[k] = val
	}
	return out, nil
}

// parseVersions parses "-versions=1,2,3" into sorted, distinct numbers.
func parseVersions(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 {
			return nil, errBadVersions
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

// parseDurationSeconds accepts a Go duration ("1h30m") or a plain number of
// seconds ("5400"), as Vault's duration flags do.
func parseDurationSeconds(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errBadDuration
	}
	return int(d / time.Second), nil
}
