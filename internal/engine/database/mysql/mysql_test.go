package mysql

import (
	"errors"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

func TestWithCredentials(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ dsn, want string }{
		"templates":   {"{{username}}:{{password}}@tcp(db:3306)/app?tls=true", "v-a:Pw-1@tcp(db:3306)/app?tls=true"},
		"literal":     {"root:r@ot@tcp(db:3306)/app", "v-a:Pw-1@tcp(db:3306)/app"},
		"no userinfo": {"tcp(db:3306)/app", "v-a:Pw-1@tcp(db:3306)/app"},
		"only user":   {"root@/app", "v-a:Pw-1@/app"},
		// A literal root password beside a templated user name must not
		// reach the reader of credentials.
		"literal password": {"{{username}}:r@otpw@tcp(db:3306)/app", "v-a:Pw-1@tcp(db:3306)/app"},
		"only template":    {"{{username}}@tcp(db:3306)/app", "v-a:Pw-1@tcp(db:3306)/app"},
	} {
		if got := withCredentials(tc.dsn, "v-a", "Pw-1"); got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"{{username}}:{{password}}@tcp(db)/app": "{{username}}:{{password}}@tcp(db)/app",
		"root:s3c@r:et@tcp(db)/app":             "root:xxxxx@tcp(db)/app",
		"root@tcp(db)/app":                      "root@tcp(db)/app",
		"root:pw@unix(/run/my.sock)/app?x=a@b":  "root:xxxxx@unix(/run/my.sock)/app?x=a@b",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	d, err := Plugin.Open(dbdriver.Config{ConnectionURL: "{{username}}:{{password}}@tcp(127.0.0.1:1)/x", Username: "root", Password: "p@ss:w/rd"})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	_, err = Plugin.Open(dbdriver.Config{ConnectionURL: "root:Secret-Canary@tcp(db:3306/x"})
	if !errors.Is(err, dbdriver.ErrBadConfig) || strings.Contains(err.Error(), "Secret-Canary") {
		t.Errorf("bad DSN: %v", err)
	}
	if Plugin.DefaultUsernameTemplate() == LegacyPlugin.DefaultUsernameTemplate() {
		t.Error("the legacy plugin names must use Vault's 16-character template")
	}
}

// FuzzDSN: no DSN makes the helpers panic; a redacted DSN never keeps the
// password go-sql-driver would use; credentials put into a templated DSN
// parse back exactly.
func FuzzDSN(f *testing.F) {
	for _, s := range []string{"root:pw@tcp(db:3306)/app", "{{username}}:{{password}}@/", "a:b@c@unix(/s)/d?x=@", "@", "/", ""} {
		f.Add(s, "v-a", "Pw-1")
	}
	f.Fuzz(func(t *testing.T, dsn, user, pw string) {
		red := redact(dsn)
		if mc, err := gomysql.ParseDSN(red); err == nil && mc.Passwd != "" && mc.Passwd != "xxxxx" && mc.Passwd != "{{password}}" {
			t.Fatalf("redact(%q) = %q keeps password %q", dsn, red, mc.Passwd)
		}
		if strings.ContainsAny(user, ":@/") || strings.ContainsAny(pw, "@/") {
			return // not in the generated alphabet, and the DSN form cannot carry them
		}
		mc, err := gomysql.ParseDSN(withCredentials("{{username}}:{{password}}@tcp(db:3306)/app", user, pw))
		if err == nil && (mc.User != user || mc.Passwd != pw) {
			t.Fatalf("credentials %q/%q parse back as %q/%q", user, pw, mc.User, mc.Passwd)
		}
	})
}
