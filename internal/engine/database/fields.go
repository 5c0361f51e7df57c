package database

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// statementsField declares a list of statements. It takes a JSON array of
// strings or a single string (which may hold several statements separated
// by semicolons, or be base64 or a JSON array, as the drivers expand it),
// and is never split at commas, which SQL is full of.
func statementsField(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeRaw, Description: desc}
}

// statements reads a statementsField; (nil, false) when it was not set.
func statements(d *framework.FieldData, name string) ([]string, bool, error) {
	raw, ok := d.GetOk(name)
	if !ok || raw == nil {
		return nil, ok, nil
	}
	list, err := parseStatements(raw)
	if err != nil {
		return nil, true, logical.InvalidRequest("field %q: %v", name, err)
	}
	return list, true, nil
}

var errStatements = errors.New("expected a string or a list of strings")

func parseStatements(raw any) ([]string, error) {
	switch v := raw.(type) {
	case string:
		if v == "" {
			return nil, nil
		}
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: item %d is %s", errStatements, i, jsonKind(x))
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w, got %s", errStatements, jsonKind(raw))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// orEmpty renders a nil list as [] in responses, as Vault does.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
