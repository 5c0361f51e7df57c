package postgres

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// TestSCRAMVerifier checks the verifier against one computed independently
// (Python's hashlib.pbkdf2_hmac and hmac, RFC 5802's definitions).
func TestSCRAMVerifier(t *testing.T) {
	t.Parallel()
	salt := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	got, err := scramVerifierSalt("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	const want = "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$zHCdol2044/ZyWzPLi7oxApCkamKw9Z+E4U/QApd/5Y=:dd5peBOitVnLNFu7VmwP+HiDaaw4OUCv396eVCWhYiE="
	if got != want {
		t.Fatalf("verifier\n got %s\nwant %s", got, want)
	}
	a, _ := scramVerifier("pencil")
	b, _ := scramVerifier("pencil")
	if a == b || !strings.HasPrefix(a, "SCRAM-SHA-256$4096:") {
		t.Fatalf("verifiers must use a fresh salt: %s %s", a, b)
	}
}

func TestWithCredentials(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		dsn, user, pw string
		noEscape      bool
		want          string
	}{
		"templated url":    {"postgres://{{username}}:{{password}}@db:5432/app?sslmode=require", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db:5432/app?sslmode=require"},
		"escaped":          {"postgresql://{{username}}:{{password}}@db/app", "v.a", "p@:/?#% x", false, "postgresql://v.a:p%40%3A%2F%3F%23%25%20x@db/app"},
		"no escape":        {"postgres://{{username}}:{{password}}@db/app", "u", "a@b", true, "postgres://u:a@b@db/app"},
		"literal root":     {"postgres://root:rootpw@db:5432/app?sslmode=disable", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db:5432/app?sslmode=disable"},
		"no userinfo":      {"postgres://db/app?user=root&password=x&sslmode=disable", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db/app?sslmode=disable"},
		"keyword template": {"host=db user={{username}} password={{password}} dbname=app", "v-a", "Pw-1", false, "host=db user=v-a password=Pw-1 dbname=app"},
		"keyword literal":  {"host=db user=root password='r o' dbname=app", "v-a", "Pw-1", false, "host=db user=v-a password=Pw-1 dbname=app"},
		// A literal root password beside a templated user name, or a
		// template elsewhere, must not reach the reader of credentials.
		"url, literal password":      {"postgres://{{username}}:rootpw@db/app", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db/app"},
		"url, password in query":     {"postgres://{{username}}@db/app?sslmode=disable&password=rootpw", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db/app?sslmode=disable"},
		"url, escaped query key":     {"postgres://{{username}}@db/app?pass%77ord=rootpw&PASSWORD=x&User=root#f", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db/app#f"},
		"url, template elsewhere":    {"postgres://root:rootpw@db/app?application_name={{username}}", "v-a", "Pw-1", false, "postgres://v-a:Pw-1@db/app?application_name=v-a"},
		"url, multi-host":            {"postgresql://root:rootpw@db1:5432,db2:5433/app", "v-a", "Pw-1", false, "postgresql://v-a:Pw-1@db1:5432,db2:5433/app"},
		"keyword, literal password":  {"host=db user={{username}} password=rootpw dbname=app", "v-a", "Pw-1", false, "host=db user=v-a password=Pw-1 dbname=app"},
		"keyword, no password given": {"host=db user={{username}} dbname=app", "v-a", "Pw-1", false, "host=db user=v-a dbname=app password=Pw-1"},
	} {
		got := withCredentials(tc.dsn, tc.user, tc.pw, tc.noEscape)
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
	u, _ := url.Parse(withCredentials("postgres://{{username}}:{{password}}@db/app", "v-a", "p@:/?#% x", false))
	if pw, _ := u.User.Password(); pw != "p@:/?#% x" {
		t.Errorf("escaped password reads back as %q", pw)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://{{username}}:{{password}}@db/app":          "postgres://{{username}}:{{password}}@db/app",
		"postgres://root:s3cret@db/app":                        "postgres://root:xxxxx@db/app",
		"postgres://root:s3@c:ret@db/app?x=1":                  "postgres://root:xxxxx@db/app?x=1",
		"postgres://db/app?user=root&password=s3cret#frag":     "postgres://db/app?user=root&password=xxxxx#frag",
		"postgres://{{username}}:lit@db/app":                   "postgres://{{username}}:xxxxx@db/app",
		"host=db user=root password='s3 cret' dbname=app":      "host=db user=root password=xxxxx dbname=app",
		"host=db user={{username}} password={{password}}":      "host=db user={{username}} password={{password}}",
		"postgres://root@db/app":                               "postgres://root@db/app",
		"postgresql://root:s3cret@db1,db2:5433/app?sslmode=no": "postgresql://root:xxxxx@db1,db2:5433/app?sslmode=no",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		c          dbdriver.Config
		user, pass string
	}{
		"url templates": {dbdriver.Config{ConnectionURL: "postgres://{{username}}:{{password}}@db/app", Username: "ro ot", Password: `p@ss:w/rd'"`}, "ro ot", `p@ss:w/rd'"`},
		"keyword form":  {dbdriver.Config{ConnectionURL: "host=db user={{username}} password={{password}} dbname=app", Username: "root", Password: "a b'c"}, "root", "a b'c"},
		"no template":   {dbdriver.Config{ConnectionURL: "postgres://root@db/app", Password: "fromfield"}, "root", "fromfield"},
	} {
		cc, err := connConfig(tc.c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cc.User != tc.user || cc.Password != tc.pass {
			t.Errorf("%s: user %q password %q", name, cc.User, cc.Password)
		}
		if cc.RuntimeParams["application_name"] != "coffer" || cc.ConnectTimeout == 0 {
			t.Errorf("%s: defaults not applied: %v %v", name, cc.RuntimeParams, cc.ConnectTimeout)
		}
	}
	_, err := connConfig(dbdriver.Config{ConnectionURL: "postgres://root:Secret-Canary@db:notaport/app"})
	if !errors.Is(err, dbdriver.ErrBadConfig) || strings.Contains(err.Error(), "Secret-Canary") {
		t.Errorf("bad URL: %v", err)
	}
	if _, err := Plugin.Open(dbdriver.Config{ConnectionURL: "postgres://db/app", PasswordAuthentication: "md5"}); !errors.Is(err, dbdriver.ErrBadConfig) {
		t.Errorf("password_authentication md5 accepted: %v", err)
	}
}

func TestWhole(t *testing.T) {
	t.Parallel()
	for stmt, want := range map[string]bool{
		"DO $$ BEGIN x; END $$;":         true,
		"BEGIN; CREATE x; END;":          true,
		`CREATE ROLE "END"; GRANT x`:     false,
		`CREATE ROLE x COMMENT 'an END'`: false,
		"APPEND; SEND":                   false,
		"CREATE FUNCTION f() AS $$ x $$": true,
	} {
		if got := whole(stmt); got != want {
			t.Errorf("whole(%q) = %v", stmt, got)
		}
	}
}

// FuzzDSN: no connection string makes the helpers panic; a redacted URL
// never keeps a literal password pgx would use; credentials put into a
// templated URL read back exactly.
func FuzzDSN(f *testing.F) {
	for _, s := range []string{
		"postgres://{{username}}:{{password}}@db/app", "postgres://root:pw@db/app?password=x",
		"host=db user=root password='a\\'b'", "postgresql://a@b@c/d", "host='unterminated", "://", "",
	} {
		f.Add(s, "v-user", "Pw-1@:/")
	}
	f.Fuzz(func(t *testing.T, dsn, user, pw string) {
		_ = parseKV(dsn)
		red := redact(dsn)
		if cc, err := pgx.ParseConfig(red); err == nil && cc.Password != "" && cc.Password != "xxxxx" && !strings.Contains(dsn, "{{password}}") {
			if orig, err := pgx.ParseConfig(dsn); err == nil && orig.Password == cc.Password && strings.Contains(dsn, orig.Password) && isURL(dsn) {
				t.Fatalf("redact(%q) = %q keeps password %q", dsn, red, cc.Password)
			}
		}
		const tmpl = "postgres://{{username}}:{{password}}@db/app"
		if u, err := url.Parse(withCredentials(tmpl, user, pw, false)); err == nil {
			if got, _ := u.User.Password(); got != pw || u.User.Username() != user {
				t.Fatalf("credentials %q/%q read back as %q/%q", user, pw, u.User.Username(), got)
			}
		} else {
			t.Fatalf("rendered URL does not parse: %v", err)
		}
	})
}
