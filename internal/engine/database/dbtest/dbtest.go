// Package dbtest finds real PostgreSQL and MariaDB/MySQL servers for tests
// of the database secrets engine, never fakes: the server named by
// COFFER_TEST_POSTGRES_URL or COFFER_TEST_MYSQL_URL; else the one on the
// usual local port (127.0.0.1:5432 as superuser postgres, 127.0.0.1:3306
// as root without a password); else a throwaway server started from the
// installed binaries in a temporary directory, stopped by Main. A server
// must check passwords (tests prove credentials by logging in with them);
// one that trusts every login is passed over for a throwaway one. When no
// server can be had a test is skipped, or fails when CI=true.
//
// It is test support: nothing in the server imports it.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a database server tests may create users and databases on,
// through a superuser pool. Safe for concurrent use.
type Server struct {
	// Kind is "postgres" or "mysql".
	Kind string
	// Host and Port are where it listens on TCP.
	Host string
	Port int
	// Database is the database the engine's connections use.
	Database string
	// Admin is a superuser pool.
	Admin *sql.DB
	// where says how it was found, for test logs.
	where string
}

// found caches, per kind, the server every test of this process uses.
var (
	mu      sync.Mutex
	servers = map[string]*lookup{}
)

type lookup struct {
	once sync.Once
	srv  *Server
	err  error
}

// Postgres returns a PostgreSQL server, skipping (or, with CI=true,
// failing) t when there is none.
func Postgres(t testing.TB) *Server { return get(t, "postgres", findPostgres) }

// MySQL returns a MariaDB or MySQL server, skipping (or, with CI=true,
// failing) t when there is none.
func MySQL(t testing.TB) *Server { return get(t, "mysql", findMySQL) }

func get(t testing.TB, kind string, find func() (*Server, error)) *Server {
	t.Helper()
	mu.Lock()
	l := servers[kind]
	if l == nil {
		l = &lookup{}
		servers[kind] = l
	}
	mu.Unlock()
	l.once.Do(func() { l.srv, l.err = find() })
	if l.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s server for the tests (CI=true, so this fails): %v", kind, l.err)
		}
		t.Skipf("no %s server for the tests: %v", kind, l.err)
	}
	return l.srv
}

// Main runs the tests of a package and then stops any throwaway server
// they started; call it from TestMain.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	stopAll()
	return code
}

// ctx bounds one helper call.
func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// Exec runs a statement as the superuser, failing t on error.
func (s *Server) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	c, cancel := ctx()
	defer cancel()
	if _, err := s.Admin.ExecContext(c, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// UserExists reports whether a user of that name exists (pg_roles,
// mysql.user).
func (s *Server) UserExists(t testing.TB, name string) bool {
	t.Helper()
	q := `SELECT COUNT(*) FROM pg_roles WHERE rolname = $1`
	if s.Kind == "mysql" {
		q = `SELECT COUNT(*) FROM mysql.user WHERE User = ?`
	}
	c, cancel := ctx()
	defer cancel()
	var n int
	if err := s.Admin.QueryRowContext(c, q, name).Scan(&n); err != nil {
		t.Fatalf("look up user %q: %v", name, err)
	}
	return n > 0
}

// Login connects with dsn (a URL or DSN in the server's own form, as the
// engine's connection_url renders it), runs a query and disconnects.
func (s *Server) Login(dsn string) error {
	c, cancel := ctx()
	defer cancel()
	db, err := open(s.Kind, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	return db.QueryRowContext(c, "SELECT 1").Scan(&one)
}

// LoginURL checks that u is a connection URL naming a user (as a rendered
// credential of the engine is: postgres://user:password@host/db) that logs
// in, has that user dropped when t ends, and returns its name. It fails t
// otherwise; its messages give u's length, never u, which holds a
// password.
func (s *Server) LoginURL(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.User == nil || p.User.Username() == "" {
		t.Fatalf("not a connection URL with a user (%d bytes)", len(u))
	}
	user := p.User.Username()
	s.CleanupUsers(t, user)
	if err := s.Login(u); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return user
}

// LoginAs is Login with the server's address and a user and password.
func (s *Server) LoginAs(user, password string) error { return s.Login(s.URL(user, password)) }

// NewRoot creates a user with every privilege and a random password, to be
// a config's root (so a test may rotate it freely), and drops it when t
// ends.
func (s *Server) NewRoot(t testing.TB) (user, password string) {
	t.Helper()
	user = "coffer_root_" + randomString(10)
	password = "Pw-" + randomString(20)
	if s.Kind == "mysql" {
		s.Exec(t, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password))
		s.Exec(t, fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION", user))
		t.Cleanup(func() { s.dropMySQLUser(user) })
		return user, password
	}
	s.Exec(t, fmt.Sprintf(`CREATE ROLE "%s" WITH LOGIN SUPERUSER PASSWORD '%s'`, user, password))
	t.Cleanup(func() { s.dropPostgresRole(user) })
	return user, password
}

// NewUser creates an ordinary user that can log in (to the test database,
// for MySQL) with a random password, for a static role to manage, and
// drops it when t ends.
func (s *Server) NewUser(t testing.TB) (user, password string) {
	t.Helper()
	user = "coffer_static_" + randomString(10)
	password = "Pw-" + randomString(20)
	if s.Kind == "mysql" {
		s.Exec(t, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password))
		s.Exec(t, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", s.Database, user))
		t.Cleanup(func() { s.dropMySQLUser(user) })
		return user, password
	}
	s.Exec(t, fmt.Sprintf(`CREATE ROLE "%s" WITH LOGIN PASSWORD '%s'`, user, password))
	t.Cleanup(func() { s.dropPostgresRole(user) })
	return user, password
}

// SetPassword changes a user's password as the superuser, the way an
// operator would behind Coffer's back.
func (s *Server) SetPassword(t testing.TB, user, password string) {
	t.Helper()
	if s.Kind == "mysql" {
		s.Exec(t, fmt.Sprintf("ALTER USER '%s'@'%%' IDENTIFIED BY '%s'", mysqlEscape(user), mysqlEscape(password)))
		return
	}
	s.Exec(t, fmt.Sprintf(`ALTER ROLE "%s" WITH PASSWORD '%s'`, strings.ReplaceAll(user, `"`, `""`), strings.ReplaceAll(password, "'", "''")))
}

// TemplateURL is a connection_url for the engine with {{username}} and
// {{password}} templates.
func (s *Server) TemplateURL() string { return s.URL("{{username}}", "{{password}}") }

// URL is a DSN for user and password in the server's own form: a
// postgres:// URL, or go-sql-driver's DSN for MySQL.
func (s *Server) URL(user, password string) string {
	if s.Kind == "mysql" {
		return fmt.Sprintf("%s:%s@tcp(%s:%d)/%s", user, password, s.Host, s.Port, s.Database)
	}
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", user, password, s.Host, s.Port, s.Database)
}

// String says where the server came from.
func (s *Server) String() string { return s.where }

// CleanupUsers drops, when t ends, every user whose name starts with
// prefix, so that a failed test leaves nothing behind.
func (s *Server) CleanupUsers(t testing.TB, prefix string) {
	t.Cleanup(func() {
		c, cancel := ctx()
		defer cancel()
		q := `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`
		if s.Kind == "mysql" {
			q = `SELECT DISTINCT User FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(?)) = ?`
		}
		args := []any{prefix}
		if s.Kind == "mysql" {
			args = append(args, prefix)
		}
		rows, err := s.Admin.QueryContext(c, q, args...)
		if err != nil {
			return
		}
		var names []string
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				names = append(names, n)
			}
		}
		rows.Close()
		for _, n := range names {
			if s.Kind == "mysql" {
				s.dropMySQLUser(n)
			} else {
				s.dropPostgresRole(n)
			}
		}
	})
}

func (s *Server) dropPostgresRole(name string) {
	c, cancel := ctx()
	defer cancel()
	q := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	_, _ = s.Admin.ExecContext(c, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, name)
	_, _ = s.Admin.ExecContext(c, `REASSIGN OWNED BY `+q+` TO CURRENT_USER`)
	_, _ = s.Admin.ExecContext(c, `DROP OWNED BY `+q)
	_, _ = s.Admin.ExecContext(c, `DROP ROLE IF EXISTS `+q)
}

func (s *Server) dropMySQLUser(name string) {
	c, cancel := ctx()
	defer cancel()
	rows, err := s.Admin.QueryContext(c, `SELECT Host FROM mysql.user WHERE User = ?`, name)
	if err != nil {
		return
	}
	var hosts []string
	for rows.Next() {
		var h string
		if rows.Scan(&h) == nil {
			hosts = append(hosts, h)
		}
	}
	rows.Close()
	for _, h := range hosts {
		_, _ = s.Admin.ExecContext(c, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", mysqlEscape(name), mysqlEscape(h)))
	}
}

func mysqlEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}
