package database

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestCredsLifeCycle proves each credential is real: the user logs in with
// its password and with the connection_url and runs a query; after
// revocation the login fails and the user is gone from pg_roles or
// mysql.user; revoking again succeeds (the lease manager may retry).
func TestCredsLifeCycle(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		h.role("app", "db", nil)
		resp := h.creds("app")
		user, pw, url := str(resp, "username"), str(resp, "password"), str(resp, "connection_url")
		if resp.Secret.TTL != time.Hour || resp.Secret.MaxTTL != 24*time.Hour || !resp.Secret.Renewable {
			t.Fatalf("lease: ttl %v max %v renewable %v", resp.Secret.TTL, resp.Secret.MaxTTL, resp.Secret.Renewable)
		}
		if want := srv.URL(user, pw); url != want {
			t.Fatalf("connection_url = %q, want %q", url, want)
		}
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("login with the issued password: %v", err)
		}
		if err := srv.Login(url); err != nil {
			t.Fatalf("login with connection_url: %v", err)
		}
		if srv.LoginAs(user, pw+"x") == nil {
			t.Fatal("a wrong password logged in")
		}
		if !srv.UserExists(t, user) {
			t.Fatal("user missing after creation")
		}
		if err := h.revoke(resp); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if srv.UserExists(t, user) {
			t.Fatal("user still exists after revocation")
		}
		if srv.LoginAs(user, pw) == nil {
			t.Fatal("login still works after revocation")
		}
		if err := h.revoke(resp); err != nil {
			t.Fatalf("a second revocation of a removed user: %v", err)
		}
	})
}

// TestGeneratedCredentialsAlphabet: usernames follow Vault's default shape
// and both names and passwords use the safe alphabet.
func TestGeneratedCredentialsAlphabet(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		h.role("reader", "db", nil)
		shape := regexp.MustCompile(`^v-token-reader-[A-Za-z0-9]{20}-[0-9]{10}$`)
		if srv.Kind == "mysql" {
			shape = regexp.MustCompile(`^v-token-reader-[A-Za-z0-9]{17}$`)
		}
		password := regexp.MustCompile(`^[A-Za-z0-9-]{20}$`)
		for range 3 {
			resp := h.creds("reader")
			u, p := str(resp, "username"), str(resp, "password")
			if !shape.MatchString(u) {
				t.Errorf("username %q does not have Vault's default shape %s", u, shape)
			}
			if !password.MatchString(p) || !strings.ContainsAny(p, "-") || !strings.ContainsAny(p, digits) ||
				!strings.ContainsAny(p, lowers) || !strings.ContainsAny(p, uppers) {
				t.Errorf("password %q breaks the default policy", p)
			}
			if err := h.revoke(resp); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestNamesCannotInjectSQL: display names with quotes, semicolons, spaces
// and unicode become safe user names that work; role names with them are
// not routes at all; a username_template that would emit a quote is
// refused when the config is written.
func TestNamesCannotInjectSQL(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, map[string]any{"username_template": `{{ printf "x-%s-%s-%s" (.DisplayName | truncate 20) .RoleName (random 8) }}`})
		h.role("app", "db", nil)
		for name, display := range map[string]string{
			"double quote": `a"; DROP ROLE postgres; --`,
			"single quote": `o'brien'); DROP USER root; --`,
			"backslash":    `a\'b\"c`,
			"spaces":       "x y\tz\n",
			"unicode":      "名前 データ ü",
			"semicolon":    ";;;",
		} {
			resp, err := h.doAs(logical.ReadOperation, "creds/app", nil, display)
			if err != nil {
				t.Fatalf("%s: creds: %v", name, err)
			}
			u := str(resp, "username")
			srv.CleanupUsers(t, u)
			if !regexp.MustCompile(`^x-[A-Za-z0-9._-]+-app-[A-Za-z0-9]{8}$`).MatchString(u) {
				t.Errorf("%s: username %q is not in the safe alphabet", name, u)
			}
			if err := srv.LoginAs(u, str(resp, "password")); err != nil {
				t.Errorf("%s: login: %v", name, err)
			}
			if err := h.revoke(resp); err != nil {
				t.Errorf("%s: revoke: %v", name, err)
			}
		}
		admin := "postgres"
		if srv.Kind == "mysql" {
			admin = "root"
		}
		if !srv.UserExists(t, admin) {
			t.Fatalf("%s was dropped", admin)
		}
		for _, role := range []string{`a'b`, `a"b`, "a;b", "a b", "名前"} {
			_, err := h.do(logical.UpdateOperation, "roles/"+role, map[string]any{"db_name": "db", "creation_statements": creation(srv)})
			wantKind(t, err, logical.ErrUnsupportedPath)
		}
		for _, tmpl := range []string{`{{.RoleName}}'x`, `{{.RoleName}}"; DROP TABLE x; --`, `{{ "a b" }}`, `{{ "名前" }}`, `{{ .DisplayName | decode_base64 }}`} {
			_, err := h.do(logical.UpdateOperation, "config/bad", map[string]any{
				"plugin_name": pluginName(srv), "connection_url": srv.TemplateURL(), "verify_connection": false,
				"username_template": tmpl,
			})
			wantKind(t, err, logical.ErrInvalidRequest, "username_template")
		}
	})
}

// TestAllowedRoles: globs admit roles; any other role is refused with a
// 400 before anything is created.
func TestAllowedRoles(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	h.configure("db", srv, map[string]any{"allowed_roles": "app-*,exact"})
	for _, r := range []string{"app-one", "exact", "other", "xapp-one"} {
		h.role(r, "db", nil)
	}
	for role, ok := range map[string]bool{"app-one": true, "exact": true, "other": false, "xapp-one": false} {
		resp, err := h.do(logical.ReadOperation, "creds/"+role, nil)
		if ok {
			if err != nil {
				t.Errorf("%s: %v", role, err)
				continue
			}
			srv.CleanupUsers(t, str(resp, "username"))
			continue
		}
		wantKind(t, err, logical.ErrInvalidRequest, `"`+role+`" is not an allowed role`)
	}
	_, err := h.do(logical.ReadOperation, "creds/nosuch", nil)
	wantKind(t, err, logical.ErrInvalidRequest, "unknown role: nosuch")
}

// TestRenewMovesExpiration: PostgreSQL's VALID UNTIL moves with a renewal
// (the driver's default statement), capped by max_ttl; MySQL runs the
// role's renew_statements.
func TestRenewMovesExpiration(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		srv := dbtest.Postgres(t)
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		h.role("app", "db", map[string]any{"default_ttl": "10m", "max_ttl": "2h"})
		resp := h.creds("app")
		user := str(resp, "username")
		before := validUntil(t, srv, user)
		if d := time.Until(before); d < 9*time.Minute || d > 11*time.Minute {
			t.Fatalf("VALID UNTIL %v is not about 10 minutes away", before)
		}
		r, err := h.renew(resp, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if r.Secret.TTL != 10*time.Minute || r.Secret.MaxTTL != 2*time.Hour {
			t.Fatalf("renewal answered ttl %v max %v", r.Secret.TTL, r.Secret.MaxTTL)
		}
		after := validUntil(t, srv, user)
		if d := time.Until(after); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("VALID UNTIL after renewing by 1h is %v", after)
		}
		if _, err := h.renew(resp, 5*time.Hour); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(validUntil(t, srv, user)); d > 2*time.Hour+time.Minute {
			t.Fatalf("renewal past max_ttl: VALID UNTIL in %v", d)
		}
		if err := srv.LoginAs(user, str(resp, "password")); err != nil {
			t.Fatalf("login after renewal: %v", err)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		srv := dbtest.MySQL(t)
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		table := "renewals_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.Exec(t, "CREATE TABLE IF NOT EXISTS "+mysqlDB(srv)+"."+table+" (name VARCHAR(80), expiration VARCHAR(40))")
		t.Cleanup(func() { srv.Exec(t, "DROP TABLE IF EXISTS "+mysqlDB(srv)+"."+table) })
		h.role("app", "db", map[string]any{"renew_statements": "INSERT INTO " + mysqlDB(srv) + "." + table + " VALUES ('{{name}}', '{{expiration}}')"})
		resp := h.creds("app")
		if _, err := h.renew(resp, 0); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := srv.Admin.QueryRow("SELECT COUNT(*) FROM "+mysqlDB(srv)+"."+table+" WHERE name = ?", str(resp, "username")).Scan(&n); err != nil || n != 1 {
			t.Fatalf("renew statements ran %d times (%v)", n, err)
		}
	})
}

func validUntil(t testing.TB, srv *dbtest.Server, user string) time.Time {
	t.Helper()
	var v time.Time
	if err := srv.Admin.QueryRowContext(context.Background(), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, user).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
