package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// databaseServers runs f for PostgreSQL and for MariaDB/MySQL.
func databaseServers(t *testing.T, f func(t *testing.T, db *dbtest.Server)) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			get := dbtest.Postgres
			if kind == "mysql" {
				get = dbtest.MySQL
			}
			f(t, get(t))
		})
	}
}

func dbPlugin(db *dbtest.Server) string {
	if db.Kind == "mysql" {
		return "mysql-database-plugin"
	}
	return "postgresql-database-plugin"
}

func dbCreation(db *dbtest.Server) []string {
	if db.Kind == "mysql" {
		return []string{`CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'`, `GRANT SELECT ON ` + db.Database + `.* TO '{{name}}'@'%'`}
	}
	return []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`}
}

// TestDatabaseEngine drives the database secrets engine through the
// OpenBao client: enable, config (never read back with its password),
// role, creds that log in both as username/password and as the
// connection_url, and rotate-root after which the old root password fails.
func TestDatabaseEngine(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, db *dbtest.Server) {
		s := start(t)
		c := s.client
		if err := c.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
			t.Fatalf("enable: %v", err)
		}
		rootUser, rootPassword := db.NewRoot(t)
		if _, err := c.Logical().Write("database/config/db", map[string]any{
			"plugin_name": dbPlugin(db), "connection_url": db.TemplateURL(),
			"username": rootUser, "password": rootPassword, "allowed_roles": []string{"app"},
		}); err != nil {
			t.Fatalf("config: %v", err)
		}
		if _, err := c.Logical().Write("database/roles/app", map[string]any{
			"db_name": "db", "creation_statements": dbCreation(db), "default_ttl": "1h", "max_ttl": "2h",
		}); err != nil {
			t.Fatalf("role: %v", err)
		}
		cfg, err := c.Logical().Read("database/config/db")
		if err != nil || cfg == nil {
			t.Fatalf("read config: %v", err)
		}
		raw, _ := json.Marshal(cfg.Data)
		if strings.Contains(string(raw), rootPassword) || cfg.Data["plugin_name"] != dbPlugin(db) {
			t.Fatalf("config read: %s", raw)
		}
		list, err := c.Logical().List("database/roles")
		if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
			t.Fatalf("list roles: %v %v", list, err)
		}

		sec, err := c.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatalf("creds: %v", err)
		}
		user, _ := sec.Data["username"].(string)
		pw, _ := sec.Data["password"].(string)
		url, _ := sec.Data["connection_url"].(string)
		db.CleanupUsers(t, user)
		if sec.LeaseDuration != 3600 || !sec.Renewable {
			t.Fatalf("lease: duration %d renewable %v", sec.LeaseDuration, sec.Renewable)
		}
		if err := db.LoginAs(user, pw); err != nil {
			t.Fatalf("login as %s: %v", user, err)
		}
		if err := db.Login(url); err != nil {
			t.Fatalf("login with connection_url: %v", err)
		}

		if _, err := c.Logical().Write("database/rotate-root/db", nil); err != nil {
			t.Fatalf("rotate-root: %v", err)
		}
		if db.LoginAs(rootUser, rootPassword) == nil {
			t.Fatal("the old root password still works after rotate-root")
		}
		again, err := c.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatalf("creds after rotate-root: %v", err)
		}
		db.CleanupUsers(t, again.Data["username"].(string))
		if err := db.Login(again.Data["connection_url"].(string)); err != nil {
			t.Fatalf("login after rotate-root: %v", err)
		}
	})
}

// TestDatabaseErrors: a wrong root password is a 400 carrying the driver's
// message without the password; a database that went away is a 502
// naming the config, and no lease is taken; an unknown or disallowed role
// is a 400.
func TestDatabaseErrors(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, db *dbtest.Server) {
		s := start(t)
		c := s.client
		if err := c.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
			t.Fatal(err)
		}
		user, _ := db.NewRoot(t)
		const wrong = "Wrong-Root-Canary-77"
		_, err := c.Logical().Write("database/config/bad", map[string]any{
			"plugin_name": dbPlugin(db), "connection_url": db.TemplateURL(), "username": user, "password": wrong,
		})
		wantStatus(t, err, 400, "error verifying connection")
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the password is in the error: %v", err)
		}
		proxy := db.NewProxy(t)
		user2, pw2 := db.NewRoot(t)
		if _, err := c.Logical().Write("database/config/flaky", map[string]any{
			"plugin_name": dbPlugin(db), "connection_url": db.Via(proxy).TemplateURL(), "username": user2, "password": pw2,
			"allowed_roles": "app",
		}); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"app", "other"} {
			if _, err := c.Logical().Write("database/roles/"+r, map[string]any{"db_name": "flaky", "creation_statements": dbCreation(db)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = c.Logical().Read("database/creds/other")
		wantStatus(t, err, 400, `"other" is not an allowed role`)
		_, err = c.Logical().Read("database/creds/nosuch")
		wantStatus(t, err, 400, "unknown role: nosuch")
		proxy.Down()
		_, err = c.Logical().Read("database/creds/app")
		wantStatus(t, err, 502, `database "flaky" is unavailable: `)
		if list, err := c.Logical().List("sys/leases/lookup/database/creds/app/"); err != nil || list != nil {
			t.Fatalf("a failed creation left a lease: %v %v", list, err)
		}
	})
}

// wantStatus fails t unless err is an API error with status code and a
// message containing want.
func wantStatus(t testing.TB, err error, code int, want string) {
	t.Helper()
	var re *api.ResponseError
	if err == nil || !asResponseError(err, &re) || re.StatusCode != code || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want status %d with %q", err, code, want)
	}
}

func asResponseError(err error, re **api.ResponseError) bool {
	for e := err; e != nil; {
		if r, ok := e.(*api.ResponseError); ok {
			*re = r
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
