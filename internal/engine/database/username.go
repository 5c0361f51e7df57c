package database

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
)

// usernameTemplate makes database user names from a config's
// username_template, Vault's Go template language with Vault's functions.
// Whatever the template says, a name it makes holds only the safe
// alphabet (ASCII letters, digits, ".", "_" and "-"), so that no display
// name, role name or template can put a quote or a semicolon into a
// statement; the names it is given are cleaned to that alphabet first.
type usernameTemplate struct {
	tmpl   *template.Template
	maxLen int
}

// usernameData is what a template sees, under Vault's field names.
type usernameData struct {
	DisplayName string
	RoleName    string
}

// newUsernameTemplate parses text and tries it once, so that a config with
// a template that cannot work is refused when written. maxLen (zero: no
// limit) is the database's limit on names.
func newUsernameTemplate(text string, maxLen int) (*usernameTemplate, error) {
	t, err := template.New("username_template").Option("missingkey=error").Funcs(templateFuncs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("unable to parse template: %w", err)
	}
	u := &usernameTemplate{tmpl: t, maxLen: maxLen}
	if _, err := u.generate("token", "role"); err != nil {
		return nil, err
	}
	return u, nil
}

// generate makes a name for a display name and a role name.
func (u *usernameTemplate) generate(displayName, roleName string) (string, error) {
	b := &cappedWriter{}
	if err := u.tmpl.Execute(b, usernameData{DisplayName: cleanName(displayName), RoleName: cleanName(roleName)}); err != nil {
		return "", fmt.Errorf("unable to apply template: %w", err)
	}
	name := b.String()
	switch {
	case name == "":
		return "", errors.New("the template makes an empty name")
	case !safeName(name):
		return "", fmt.Errorf("the template makes %q, which has characters other than ASCII letters, digits, '.', '_' and '-'", name)
	case u.maxLen > 0 && len(name) > u.maxLen:
		return "", fmt.Errorf("the template makes names of %d characters; the database keeps at most %d (use truncate)", len(name), u.maxLen)
	}
	return name, nil
}

// maxTemplateOutput bounds what a template may write, so that a template
// that loops cannot exhaust memory; no database takes names this long.
const maxTemplateOutput = 1024

// cappedWriter is a strings.Builder that refuses to grow past
// maxTemplateOutput, which stops the template.
type cappedWriter struct{ strings.Builder }

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.Len()+len(p) > maxTemplateOutput {
		return 0, fmt.Errorf("the template makes names longer than %d characters", maxTemplateOutput)
	}
	return w.Builder.Write(p)
}

func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

func safeName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !safeByte(s[i]) {
			return false
		}
	}
	return true
}

// cleanName replaces every character outside the safe alphabet (quotes,
// semicolons, spaces, any non-ASCII letter) with "-".
func cleanName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && safeByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// templateFuncs are Vault's username template functions.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"random":           randomAlnum,
		"truncate":         truncate,
		"truncate_sha256":  truncateSHA256,
		"uppercase":        strings.ToUpper,
		"lowercase":        strings.ToLower,
		"replace":          func(find, repl, s string) string { return strings.ReplaceAll(s, find, repl) },
		"sha256":           func(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) },
		"base64":           func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"decode_base64":    func(s string) (string, error) { b, err := base64.StdEncoding.DecodeString(s); return string(b), err },
		"hex":              func(s string) string { return hex.EncodeToString([]byte(s)) },
		"decode_hex":       func(s string) (string, error) { b, err := hex.DecodeString(s); return string(b), err },
		"unix_time":        func() string { return strconv.FormatInt(time.Now().Unix(), 10) },
		"unix_time_millis": func() string { return strconv.FormatInt(time.Now().UnixMilli(), 10) },
		"timestamp":        func(layout string) string { return time.Now().Format(layout) },
		"uuid":             func() string { return uuid.NewString() },
		"glob":             glob,
	}
}

func truncate(maxLen int, s string) (string, error) {
	if maxLen <= 0 {
		return "", fmt.Errorf("max length must be > 0 but was %d", maxLen)
	}
	return s[:min(len(s), maxLen)], nil
}

// truncateSHA256 keeps s when it fits, else its first maxLen-8 bytes and
// 8 hex digits of the SHA-256 of the rest.
func truncateSHA256(maxLen int, s string) (string, error) {
	if maxLen <= 8 {
		return "", fmt.Errorf("max length must be > 8 but was %d", maxLen)
	}
	if len(s) <= maxLen {
		return s, nil
	}
	cut := maxLen - 8
	return s[:cut] + fmt.Sprintf("%x", sha256.Sum256([]byte(s[cut:])))[:8], nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlnum returns n characters drawn uniformly from [A-Za-z0-9].
func randomAlnum(n int) (string, error) {
	if n <= 0 || n > 1024 {
		return "", fmt.Errorf("random length must be between 1 and 1024, not %d", n)
	}
	return randomFrom(alnum, n), nil
}

// randomFrom returns n characters drawn uniformly from set (at most 256
// characters) with crypto/rand.
func randomFrom(set string, n int) string {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(set)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, set[int(c)%len(set)])
			}
		}
	}
	return string(out)
}

// glob reports whether value matches pattern, where "*" matches any run of
// characters (Vault's glob).
func glob(pattern, value string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == value
	}
	if !strings.HasPrefix(value, parts[0]) {
		return false
	}
	value = value[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(value, p)
		if i < 0 {
			return false
		}
		value = value[i+len(p):]
	}
	return strings.HasSuffix(value, parts[len(parts)-1])
}
