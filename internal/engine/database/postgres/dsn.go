package postgres

import (
	"net/url"
	"strings"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// A connection_url is either a URL (postgres:// or postgresql://) or
// libpq's keyword/value form ("host=db user={{username}} ..."); pgx reads
// both and so does Coffer.

func isURL(dsn string) bool {
	l := strings.ToLower(strings.TrimSpace(dsn))
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

const redactedValue = "xxxxx"

// splitAuthority cuts a URL into what precedes its userinfo, the userinfo
// (without "@") and the rest, by the same rule Go's URL parser uses (the
// last "@" before the path). hasUser is false when there is no userinfo.
func splitAuthority(u string) (head, userinfo, rest string, hasUser bool) {
	i := strings.Index(u, "://")
	if i < 0 {
		return u, "", "", false
	}
	head, after := u[:i+3], u[i+3:]
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	at := strings.LastIndex(after[:end], "@")
	if at < 0 {
		return head, "", after, false
	}
	return head, after[:at], after[at+1:], true
}

// redactURL hides a literal password in a URL's userinfo or in a
// "password" query parameter; the {{password}} template is kept.
func redactURL(u string) string {
	head, userinfo, rest, ok := splitAuthority(u)
	if ok {
		if name, pw, has := strings.Cut(userinfo, ":"); has && pw != "{{password}}" {
			userinfo = name + ":" + redactedValue
		}
		u = head + userinfo + "@" + rest
	}
	base, query, has := strings.Cut(u, "?")
	if !has {
		return u
	}
	frag := ""
	if q, f, ok := strings.Cut(query, "#"); ok {
		query, frag = q, "#"+f
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "password") && v != "{{password}}" {
			parts[i] = k + "=" + redactedValue
		}
	}
	return base + "?" + strings.Join(parts, "&") + frag
}

// kv is one keyword/value pair of a libpq connection string.
type kv struct{ key, value string }

// parseKV reads libpq's keyword/value form: pairs "key = value" separated
// by spaces, values optionally single-quoted with backslash escapes. It is
// lenient: text it cannot read ends the list.
func parseKV(s string) []kv {
	var out []kv
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		eq := strings.IndexByte(s, '=')
		if s == "" || eq < 0 {
			return out
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		out = append(out, kv{key, val.String()})
	}
}

// formatKV writes pairs back in keyword/value form, quoting where needed.
func formatKV(pairs []kv) string {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.key + "=" + quoteKV(p.value)
	}
	return strings.Join(parts, " ")
}

func quoteKV(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// withCredentials renders dsn for username and password: the
// credentials it carries, templated or literal, in the userinfo, in a
// "user" or "password" query parameter or keyword, are replaced by these
// (percent-escaped in a URL unless noEscape), and templates elsewhere are
// filled in. Nothing of the root's survives: a literal root password next
// to a templated user name must not reach whoever reads credentials.
func withCredentials(dsn, username, password string, noEscape bool) string {
	if isURL(dsn) {
		u, p := username, password
		if !noEscape {
			u, p = dbdriver.EscapeURLComponent(u), dbdriver.EscapeURLComponent(p)
		}
		head, _, rest, _ := splitAuthority(dsn)
		rest = strings.NewReplacer("{{username}}", u, "{{password}}", p).Replace(dropQueryCredentials(rest))
		return head + u + ":" + p + "@" + rest
	}
	fill := strings.NewReplacer("{{username}}", username, "{{password}}", password)
	var pairs []kv
	seenUser, seenPassword := false, false
	for _, p := range parseKV(dsn) {
		switch p.key {
		case "user":
			p.value, seenUser = username, true
		case "password":
			p.value, seenPassword = password, true
		default:
			p.value = fill.Replace(p.value)
		}
		pairs = append(pairs, p)
	}
	if !seenUser {
		pairs = append(pairs, kv{"user", username})
	}
	if !seenPassword {
		pairs = append(pairs, kv{"password", password})
	}
	return formatKV(pairs)
}

// dropQueryCredentials removes the "user" and "password" parameters from
// the query of rest (what follows a URL's userinfo), compared as pgx reads
// them: unescaped, and in any case. A key that does not unescape goes too.
func dropQueryCredentials(rest string) string {
	base, query, has := strings.Cut(rest, "?")
	if !has {
		return rest
	}
	frag := ""
	if q, f, ok := strings.Cut(query, "#"); ok {
		query, frag = q, "#"+f
	}
	var kept []string
	for _, p := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(p, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || strings.EqualFold(key, "user") || strings.EqualFold(key, "password") {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return base + frag
	}
	return base + "?" + strings.Join(kept, "&") + frag
}

// redact hides a literal password in either form.
func redact(dsn string) string {
	if isURL(dsn) {
		return redactURL(dsn)
	}
	pairs := parseKV(dsn)
	changed := false
	for i, p := range pairs {
		if p.key == "password" && p.value != "{{password}}" {
			pairs[i].value, changed = redactedValue, true
		}
	}
	if !changed {
		return dsn
	}
	return formatKV(pairs)
}
