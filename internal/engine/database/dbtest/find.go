package dbtest

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The environment variables naming servers, and the usual local servers.
const (
	PostgresEnv = "COFFER_TEST_POSTGRES_URL"
	MySQLEnv    = "COFFER_TEST_MYSQL_URL"
)

var (
	localPostgres = []string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
	}
	localMySQL = []string{"root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/"}
)

// errTrusting is why a server that logs anyone in is passed over.
var errTrusting = errors.New("it accepts a wrong password (trust authentication), so credentials could not be proven; " +
	"let only the superuser in without a password (scripts/test.sh sets this up)")

func findPostgres() (*Server, error) {
	return find("postgres", PostgresEnv, localPostgres, startPostgres)
}

func findMySQL() (*Server, error) { return find("mysql", MySQLEnv, localMySQL, startMySQL) }

// find tries the environment variable (and nothing else when it is set),
// then the local server, then a throwaway one.
func find(kind, env string, local []string, start func() (*Server, error)) (*Server, error) {
	if u := os.Getenv(env); u != "" {
		s, err := connect(kind, u, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", env, err)
		}
		return s, nil
	}
	var reasons []string
	for _, u := range local {
		s, err := connect(kind, u, "local server")
		if err == nil {
			return s, nil
		}
		reasons = append(reasons, err.Error())
	}
	s, err := start()
	if err != nil {
		reasons = append(reasons, "throwaway server: "+err.Error())
		return nil, errors.New(strings.Join(reasons, "; "))
	}
	return s, nil
}

// connect opens a superuser pool on dsn and checks that the server answers
// and checks passwords.
func connect(kind, dsn, where string) (*Server, error) {
	db, err := open(kind, dsn)
	if err != nil {
		return nil, err
	}
	c, cancel := ctx()
	defer cancel()
	if err := db.PingContext(c); err != nil {
		db.Close()
		return nil, err
	}
	s := &Server{Kind: kind, Admin: db, where: where + " " + redact(kind, dsn)}
	if err := s.address(dsn); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.checkPasswords(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// address fills Host, Port and Database from dsn.
func (s *Server) address(dsn string) error {
	if s.Kind == "mysql" {
		mc, err := gomysql.ParseDSN(dsn)
		if err != nil {
			return err
		}
		if mc.Net != "tcp" {
			return fmt.Errorf("%s must name a TCP address", MySQLEnv)
		}
		host, port, err := splitHostPort(mc.Addr)
		s.Host, s.Port, s.Database = host, port, mc.DBName
		return err
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	if strings.HasPrefix(cc.Host, "/") {
		return fmt.Errorf("%s must name a TCP address", PostgresEnv)
	}
	s.Host, s.Port, s.Database = cc.Host, int(cc.Port), cc.Database
	return nil
}

// checkPasswords makes a user with a password and checks that a wrong one
// is refused.
func (s *Server) checkPasswords() error {
	user, pw := "coffer_probe_"+randomString(8), "Right-"+randomString(12)
	c, cancel := ctx()
	defer cancel()
	create := fmt.Sprintf(`CREATE ROLE "%s" LOGIN PASSWORD '%s'`, user, pw)
	if s.Kind == "mysql" {
		create = fmt.Sprintf(`CREATE USER '%s'@'%%' IDENTIFIED BY '%s'`, user, pw)
	}
	if _, err := s.Admin.ExecContext(c, create); err != nil {
		return fmt.Errorf("create a probe user: %w", err)
	}
	defer func() {
		if s.Kind == "mysql" {
			s.dropMySQLUser(user)
		} else {
			s.dropPostgresRole(user)
		}
	}()
	// MySQL: no database, the probe user has no privileges on any.
	probe := *s
	if s.Kind == "mysql" {
		probe.Database = ""
	}
	if err := probe.LoginAs(user, pw); err != nil {
		return fmt.Errorf("log in as a probe user: %w", err)
	}
	if probe.LoginAs(user, "Wrong-"+randomString(12)) == nil {
		return errTrusting
	}
	return nil
}

// Open opens a pool on dsn, a URL or DSN in the form of kind ("postgres"
// or "mysql").
func Open(kind, dsn string) (*sql.DB, error) { return open(kind, dsn) }

func open(kind, dsn string) (*sql.DB, error) {
	if kind == "mysql" {
		mc, err := gomysql.ParseDSN(dsn)
		if err != nil {
			return nil, err
		}
		conn, err := gomysql.NewConnector(mc)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(conn), nil
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cc), nil
}

// redact hides a password in a DSN for logs.
func redact(kind, dsn string) string {
	if kind == "mysql" {
		if mc, err := gomysql.ParseDSN(dsn); err == nil && mc.Passwd != "" {
			mc.Passwd = "xxxxx"
			return mc.FormatDSN()
		}
		return dsn
	}
	if cc, err := pgx.ParseConfig(dsn); err == nil && cc.Password != "" {
		return strings.ReplaceAll(dsn, cc.Password, "xxxxx")
	}
	return dsn
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, 3306, nil
	}
	var port int
	_, err := fmt.Sscanf(addr[i+1:], "%d", &port)
	return addr[:i], port, err
}

const lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomString returns n random lowercase letters and digits.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = lowerAlnum[int(b[i])%len(lowerAlnum)]
	}
	return string(b)
}
