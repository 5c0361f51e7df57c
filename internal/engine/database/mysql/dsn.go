package mysql

import "strings"

// A MySQL connection_url is go-sql-driver's DSN,
// "[user[:password]@][net[(addr)]]/dbname[?params]", which has no escaping:
// the user runs to the first ":" and the password to the last "@" before
// the last "/".

// splitDSN cuts dsn into its userinfo and the rest (after the "@");
// hasUser is false when there is no userinfo.
func splitDSN(dsn string) (userinfo, rest string, hasUser bool) {
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		slash = len(dsn)
	}
	at := strings.LastIndex(dsn[:slash], "@")
	if at < 0 {
		return "", dsn, false
	}
	return dsn[:at], dsn[at+1:], true
}

const redactedValue = "xxxxx"

// redact hides a literal password; the {{password}} template is kept.
func redact(dsn string) string {
	userinfo, rest, ok := splitDSN(dsn)
	if !ok {
		return dsn
	}
	if name, pw, has := strings.Cut(userinfo, ":"); has && pw != "{{password}}" {
		return name + ":" + redactedValue + "@" + rest
	}
	return dsn
}

// withCredentials renders dsn for username and password: its userinfo,
// templated or literal, is replaced by these, and templates elsewhere are
// filled in as they are (the DSN form has no escaping, and generated
// credentials need none). Nothing of the root's survives: a literal root
// password next to a templated user name must not reach whoever reads
// credentials.
func withCredentials(dsn, username, password string) string {
	_, rest, _ := splitDSN(dsn)
	rest = strings.NewReplacer("{{username}}", username, "{{password}}", password).Replace(rest)
	return username + ":" + password + "@" + rest
}
