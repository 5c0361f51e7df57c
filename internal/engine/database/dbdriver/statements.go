package dbdriver

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ExpirationFormat is how {{expiration}} is rendered, as in Vault
// ("2006-01-02 15:04:05-0700"); both PostgreSQL and MySQL parse it.
const ExpirationFormat = "2006-01-02 15:04:05-0700"

// Queries expands statements into the queries to run, as Vault's database
// plugins do: each statement may be base64 of the text, a JSON array of
// queries, or several queries separated by semicolons. A statement for
// which whole reports true (PostgreSQL's blocks with END) is run as one
// query. Empty queries are dropped.
func Queries(statements []string, whole func(string) bool) []string {
	var out []string
	for _, stmt := range statements {
		stmt = decodeBase64Text(stmt)
		var list []string
		if json.Unmarshal([]byte(stmt), &list) == nil {
			out = appendTrimmed(out, list...)
			continue
		}
		if whole != nil && whole(stmt) {
			out = appendTrimmed(out, stmt)
			continue
		}
		out = appendTrimmed(out, strings.Split(stmt, ";")...)
	}
	return out
}

func appendTrimmed(out []string, qs ...string) []string {
	for _, q := range qs {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	return out
}

// decodeBase64Text returns the decoded text when s is base64 of readable
// text, and s otherwise. Vault accepts base64 statements; requiring the
// result to be text keeps a short statement that happens to be valid
// base64 ("ROLLBACK") from being mangled.
func decodeBase64Text(s string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) == 0 || !utf8.Valid(raw) {
		return s
	}
	for _, r := range string(raw) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return s
		}
	}
	return string(raw)
}

// Values are what a statement's templates are filled with. Empty fields
// leave their templates as written.
type Values struct {
	Username   string
	Password   string
	Expiration time.Time
}

// Render fills {{name}} and {{username}} with v.Username, {{password}} with
// v.Password and {{expiration}} with v.Expiration in ExpirationFormat, by
// plain substitution as in Vault: the engine guarantees that generated
// names and passwords need no quoting.
func Render(query string, v Values) string {
	pairs := make([]string, 0, 8)
	if v.Username != "" {
		pairs = append(pairs, "{{name}}", v.Username, "{{username}}", v.Username)
	}
	if v.Password != "" {
		pairs = append(pairs, "{{password}}", v.Password)
	}
	if !v.Expiration.IsZero() {
		pairs = append(pairs, "{{expiration}}", v.Expiration.Format(ExpirationFormat))
	}
	if len(pairs) == 0 {
		return query
	}
	return strings.NewReplacer(pairs...).Replace(query)
}
