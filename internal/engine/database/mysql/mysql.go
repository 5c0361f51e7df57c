// Package mysql is the MySQL and MariaDB driver of the database secrets
// engine (plugin names mysql-database-plugin and, with Vault's shorter
// legacy usernames, mysql-aurora-, mysql-rds- and
// mysql-legacy-database-plugin), built on github.com/go-sql-driver/mysql
// through database/sql: one pool per config, statements run in a
// transaction on one connection, passwords scrubbed from every error.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// Vault's username templates: up to 32 characters for MySQL 5.7 and later
// and MariaDB; up to 16 for the legacy plugin names.
const (
	defaultUsernameTemplate = `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) (unix_time) | truncate 32 }}`
	legacyUsernameTemplate  = `{{ printf "v-%s-%s-%s" (.RoleName | truncate 4) (random 20) | truncate 16 }}`
)

// Plugin is mysql-database-plugin; LegacyPlugin is the same driver with
// Vault's 16-character usernames, for the mysql-aurora-, mysql-rds- and
// mysql-legacy-database-plugin names.
var (
	Plugin       dbdriver.Plugin = plugin{usernameTemplate: defaultUsernameTemplate}
	LegacyPlugin dbdriver.Plugin = plugin{usernameTemplate: legacyUsernameTemplate}
)

type plugin struct{ usernameTemplate string }

func (p plugin) DefaultUsernameTemplate() string { return p.usernameTemplate }

func (plugin) ConnectionURL(dsn, username, password string, _ bool) string {
	return withCredentials(dsn, username, password)
}

func (plugin) Redact(dsn string) string { return redact(dsn) }

// MaxUsernameLength is zero: MySQL and MariaDB refuse a name that is too
// long rather than cutting it.
func (plugin) MaxUsernameLength() int { return 0 }

// Placeholders stand for the templates while the DSN is parsed, so that
// the root credentials are set on the parsed config exactly as they are.
const (
	userPlaceholder     = "cofferrootusernameplaceholder"
	passwordPlaceholder = "cofferrootpasswordplaceholder"
)

// quietDriver silences go-sql-driver's own logger, which writes transient
// network errors to standard error in its own format; the same errors
// reach the engine as return values.
var quietDriver = sync.OnceFunc(func() { _ = gomysql.SetLogger(log.New(io.Discard, "", 0)) })

// Open parses c without connecting.
func (plugin) Open(c dbdriver.Config) (dbdriver.Driver, error) {
	quietDriver()
	if strings.TrimSpace(c.ConnectionURL) == "" {
		return nil, fmt.Errorf("%w: connection_url cannot be empty", dbdriver.ErrBadConfig)
	}
	dsn := strings.NewReplacer("{{username}}", userPlaceholder, "{{password}}", passwordPlaceholder).Replace(c.ConnectionURL)
	mc, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, dbdriver.Scrub(fmt.Errorf("%w: connection_url: %w", dbdriver.ErrBadConfig, err), c.Password)
	}
	fill := strings.NewReplacer(userPlaceholder, c.Username, passwordPlaceholder, c.Password)
	mc.User, mc.Passwd = fill.Replace(mc.User), fill.Replace(mc.Passwd)
	if mc.Passwd == "" {
		mc.Passwd = c.Password
	}
	if mc.Timeout == 0 {
		mc.Timeout = dbdriver.DefaultConnectTimeout
	}
	// Several statements in one query would let a template break out of
	// the one it was written in.
	mc.MultiStatements = false
	conn, err := gomysql.NewConnector(mc)
	if err != nil {
		return nil, dbdriver.Scrub(fmt.Errorf("%w: %w", dbdriver.ErrBadConfig, err), c.Password)
	}
	db := sql.OpenDB(conn)
	dbdriver.Pool(db, c)
	return &driver{db: db, mc: mc, rootPassword: c.Password}, nil
}

// driver is a pool for one config. The root password is kept only to
// scrub it from errors.
type driver struct {
	db *sql.DB
	// mc is what db connects with, copied for other users' logins.
	mc           *gomysql.Config
	rootPassword string
}

var (
	_ dbdriver.Driver   = (*driver)(nil)
	_ dbdriver.Accounts = (*driver)(nil)
)

func (d *driver) scrub(err error, secrets ...string) error {
	return dbdriver.Scrub(err, append(secrets, d.rootPassword)...)
}

func queries(stmts []string, v dbdriver.Values) []string {
	qs := dbdriver.Queries(stmts, nil)
	for i := range qs {
		qs[i] = dbdriver.Render(qs[i], v)
	}
	return qs
}

// CreateUser runs the creation statements. MySQL commits CREATE USER and
// GRANT on its own, so a failure part-way runs the rollback statements (or
// the default revocation) to remove whatever was created.
func (d *driver) CreateUser(ctx context.Context, req dbdriver.CreateUserRequest) error {
	qs := queries(req.Statements, dbdriver.Values{Username: req.Username, Password: req.Password, Expiration: req.Expiration})
	if len(qs) == 0 {
		return errors.New("no creation statements")
	}
	err := dbdriver.ExecTx(ctx, d.db, "creation statement", qs)
	if err == nil {
		return nil
	}
	if !errors.Is(err, dbdriver.ErrUnavailable) {
		if rerr := d.rollback(ctx, req); rerr != nil {
			err = fmt.Errorf("%w; %w, so user %q may remain: %w", err, dbdriver.ErrRollbackFailed, req.Username, rerr)
		}
	}
	return d.scrub(err, req.Password)
}

func (d *driver) rollback(ctx context.Context, req dbdriver.CreateUserRequest) error {
	ctx = context.WithoutCancel(ctx)
	if len(req.Rollback) > 0 {
		return dbdriver.ExecTx(ctx, d.db, "rollback statement", queries(req.Rollback, dbdriver.Values{Username: req.Username}))
	}
	return d.defaultRevoke(ctx, req.Username)
}

// RenewUser runs the role's renewal statements; MySQL has no expiry of
// its own to move, so without statements it does nothing, as in Vault.
func (d *driver) RenewUser(ctx context.Context, req dbdriver.RenewUserRequest) error {
	if len(req.Statements) == 0 {
		return nil
	}
	qs := queries(req.Statements, dbdriver.Values{Username: req.Username, Expiration: req.Expiration})
	return d.scrub(dbdriver.ExecTx(ctx, d.db, "renewal statement", qs))
}

// RevokeUser runs the revocation statements, or the default revocation.
// A user that is gone by the end counts as revoked.
func (d *driver) RevokeUser(ctx context.Context, req dbdriver.RevokeUserRequest) error {
	var err error
	if len(req.Statements) == 0 {
		err = d.defaultRevoke(ctx, req.Username)
	} else {
		err = dbdriver.ExecTx(ctx, d.db, "revocation statement", queries(req.Statements, dbdriver.Values{Username: req.Username}))
	}
	if err != nil && !errors.Is(err, dbdriver.ErrUnavailable) {
		if hosts, herr := d.hosts(ctx, req.Username); herr == nil && len(hosts) == 0 {
			return nil
		}
	}
	return d.scrub(err)
}

// RotatePassword sets a new password for an existing user: by default for
// every host the user is defined for.
func (d *driver) RotatePassword(ctx context.Context, req dbdriver.RotatePasswordRequest) error {
	stmts := req.Statements
	if len(stmts) == 0 {
		hosts, err := d.hosts(ctx, req.Username)
		if err != nil {
			return d.scrub(err, req.Password)
		}
		if len(hosts) == 0 {
			hosts = []string{"%"}
		}
		for _, h := range hosts {
			stmts = append(stmts, `ALTER USER `+quote(req.Username)+`@`+quote(h)+` IDENTIFIED BY '{{password}}'`)
		}
	}
	qs := queries(stmts, dbdriver.Values{Username: req.Username, Password: req.Password})
	return d.scrub(dbdriver.ExecTx(ctx, d.db, "rotation statement", qs), req.Password)
}

// Verify connects and pings.
func (d *driver) Verify(ctx context.Context) error {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return d.scrub(err)
	}
	return conn.Close()
}

// Close closes the pool.
func (d *driver) Close() error { return d.db.Close() }

// quote quotes s as a MySQL string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
