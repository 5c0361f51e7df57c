package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

// funcs are the template functions besides the secret lookups, with
// consul-template's names and argument orders, so Vault Agent templates
// render unchanged: a pipeline's value comes last ({{ .x | split "," }}).
func funcs() template.FuncMap {
	return template.FuncMap{
		"env":             os.Getenv,
		"toJSON":          toJSON,
		"toJSONPretty":    toJSONPretty,
		"base64Encode":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode":    base64Decode(base64.StdEncoding),
		"base64URLEncode": func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		"base64URLDecode": base64Decode(base64.URLEncoding),
		"trimSpace":       strings.TrimSpace,
		"split":           func(sep, s string) []string { return strings.Split(s, sep) },
		"join":            func(sep string, list []string) string { return strings.Join(list, sep) },
		"toLower":         strings.ToLower,
		"toUpper":         strings.ToUpper,
		"replaceAll":      func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"parseJSON":       parseJSON,
	}
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJSON: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func toJSONPretty(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("toJSONPretty: %w", err)
	}
	return string(b), nil
}

func base64Decode(enc *base64.Encoding) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := enc.DecodeString(s)
		if err != nil {
			// The value may be a secret: say where it failed, not what it was.
			return "", fmt.Errorf("base64Decode: input is not valid base64 (%d bytes)", len(s))
		}
		return string(b), nil
	}
}

func parseJSON(s string) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("parseJSON: input is not valid JSON")
	}
	return v, nil
}
