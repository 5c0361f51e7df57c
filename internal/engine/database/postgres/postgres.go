// Package postgres is the PostgreSQL driver of the database secrets engine
// (plugin name postgresql-database-plugin), built on github.com/jackc/pgx/v5
// through database/sql: one pool per config, statements run in a
// transaction on one connection, passwords scrubbed from every error.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// Plugin is the postgresql-database-plugin.
var Plugin dbdriver.Plugin = plugin{}

// defaultUsernameTemplate is Vault's for PostgreSQL: names of at most 63
// bytes, PostgreSQL's identifier limit.
const defaultUsernameTemplate = `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`

// Vault's default statements for renewal and password changes.
const (
	defaultRenewStatement = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`
)

// The password_authentication values.
const (
	authPassword = "password"
	authSCRAM    = "scram-sha-256"
)

type plugin struct{}

func (plugin) DefaultUsernameTemplate() string { return defaultUsernameTemplate }

func (plugin) ConnectionURL(dsn, username, password string, noEscape bool) string {
	return withCredentials(dsn, username, password, noEscape)
}

func (plugin) Redact(dsn string) string { return redact(dsn) }

// MaxUsernameLength is NAMEDATALEN-1, the longest identifier PostgreSQL
// keeps whole.
func (plugin) MaxUsernameLength() int { return 63 }

// Open parses c without connecting.
func (plugin) Open(c dbdriver.Config) (dbdriver.Driver, error) {
	switch c.PasswordAuthentication {
	case "", authPassword, authSCRAM:
	default:
		return nil, fmt.Errorf("%w: password_authentication must be %q or %q, not %q",
			dbdriver.ErrBadConfig, authPassword, authSCRAM, c.PasswordAuthentication)
	}
	cc, err := connConfig(c)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cc)
	dbdriver.Pool(db, c)
	return &driver{db: db, cc: cc, scram: c.PasswordAuthentication == authSCRAM, rootPassword: c.Password}, nil
}

// Placeholders stand for the templates while pgx parses the URL, so that
// the root credentials are set on the parsed config as they are and never
// need escaping for either form of connection string.
const (
	userPlaceholder     = "cofferrootusernameplaceholder"
	passwordPlaceholder = "cofferrootpasswordplaceholder"
)

func connConfig(c dbdriver.Config) (*pgx.ConnConfig, error) {
	if strings.TrimSpace(c.ConnectionURL) == "" {
		return nil, fmt.Errorf("%w: connection_url cannot be empty", dbdriver.ErrBadConfig)
	}
	dsn := strings.NewReplacer("{{username}}", userPlaceholder, "{{password}}", passwordPlaceholder).Replace(c.ConnectionURL)
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, dbdriver.Scrub(fmt.Errorf("%w: connection_url: %w", dbdriver.ErrBadConfig, err), c.Password)
	}
	fill := strings.NewReplacer(userPlaceholder, c.Username, passwordPlaceholder, c.Password)
	cc.User, cc.Password = fill.Replace(cc.User), fill.Replace(cc.Password)
	if cc.Password == "" {
		// A URL without a password uses the config's, so that rotate-root
		// works without a {{password}} template too.
		cc.Password = c.Password
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = dbdriver.DefaultConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "coffer"
	}
	return cc, nil
}

// driver is a pool for one config. The root password is kept only to
// scrub it from errors.
type driver struct {
	db *sql.DB
	// cc is what db connects with, copied for other users' logins.
	cc           *pgx.ConnConfig
	scram        bool
	rootPassword string
}

var (
	_ dbdriver.Driver   = (*driver)(nil)
	_ dbdriver.Accounts = (*driver)(nil)
)

func (d *driver) scrub(err error, secrets ...string) error {
	return dbdriver.Scrub(err, append(secrets, d.rootPassword)...)
}

// password is what {{password}} becomes: the password, or its SCRAM
// verifier when the config asks for password_authentication=scram-sha-256.
func (d *driver) password(pw string) (string, error) {
	if !d.scram {
		return pw, nil
	}
	return scramVerifier(pw)
}

// endWord finds Vault's marker of a statement that must run whole (a DO
// block or a function body): the word END outside quotes.
var (
	endWord = regexp.MustCompile(`\bEND\b`)
	quoted  = regexp.MustCompile(`"[^"]*"|'[^']*'`)
)

// whole reports whether stmt must be sent as one query rather than split
// at semicolons: a block ending in END, or anything dollar-quoted.
func whole(stmt string) bool {
	return strings.Contains(stmt, "$$") || endWord.MatchString(quoted.ReplaceAllString(stmt, ""))
}

func queries(stmts []string, v dbdriver.Values) []string {
	qs := dbdriver.Queries(stmts, whole)
	for i := range qs {
		qs[i] = dbdriver.Render(qs[i], v)
	}
	return qs
}

// CreateUser runs the creation statements in one transaction; when they
// fail, the rollback statements (or the default revocation) make sure no
// user is left behind.
func (d *driver) CreateUser(ctx context.Context, req dbdriver.CreateUserRequest) error {
	pw, err := d.password(req.Password)
	if err != nil {
		return err
	}
	qs := queries(req.Statements, dbdriver.Values{Username: req.Username, Password: pw, Expiration: req.Expiration})
	if len(qs) == 0 {
		return errors.New("no creation statements")
	}
	err = dbdriver.ExecTx(ctx, d.db, "creation statement", qs)
	if err == nil {
		return nil
	}
	if !errors.Is(err, dbdriver.ErrUnavailable) {
		if rerr := d.rollback(ctx, req); rerr != nil {
			err = fmt.Errorf("%w; %w, so user %q may remain: %w", err, dbdriver.ErrRollbackFailed, req.Username, rerr)
		}
	}
	return d.scrub(err, req.Password, pw)
}

func (d *driver) rollback(ctx context.Context, req dbdriver.CreateUserRequest) error {
	ctx = context.WithoutCancel(ctx)
	if len(req.Rollback) > 0 {
		return dbdriver.ExecTx(ctx, d.db, "rollback statement", queries(req.Rollback, dbdriver.Values{Username: req.Username}))
	}
	return d.defaultRevoke(ctx, req.Username)
}

// RenewUser moves the user's VALID UNTIL, or runs the role's renewal
// statements.
func (d *driver) RenewUser(ctx context.Context, req dbdriver.RenewUserRequest) error {
	stmts := req.Statements
	if len(stmts) == 0 {
		stmts = []string{defaultRenewStatement}
	}
	qs := queries(stmts, dbdriver.Values{Username: req.Username, Expiration: req.Expiration})
	return d.scrub(dbdriver.ExecTx(ctx, d.db, "renewal statement", qs))
}

// RevokeUser runs the revocation statements, or the default revocation.
// A user that is gone by the end counts as revoked, so that a revocation
// retried after a partial success converges.
func (d *driver) RevokeUser(ctx context.Context, req dbdriver.RevokeUserRequest) error {
	var err error
	if len(req.Statements) == 0 {
		err = d.defaultRevoke(ctx, req.Username)
	} else {
		err = dbdriver.ExecTx(ctx, d.db, "revocation statement", queries(req.Statements, dbdriver.Values{Username: req.Username}))
	}
	if err != nil && !errors.Is(err, dbdriver.ErrUnavailable) {
		if exists, xerr := d.exists(ctx, req.Username); xerr == nil && !exists {
			return nil
		}
	}
	return d.scrub(err)
}

// RotatePassword sets a new password for an existing user.
func (d *driver) RotatePassword(ctx context.Context, req dbdriver.RotatePasswordRequest) error {
	pw, err := d.password(req.Password)
	if err != nil {
		return err
	}
	stmts := req.Statements
	if len(stmts) == 0 {
		// Vault's default, with the name quoted here rather than by the
		// template: a static role's user is named by whoever created it,
		// and may hold a double quote.
		stmts = []string{`ALTER ROLE ` + quoteIdent(req.Username) + ` WITH PASSWORD '{{password}}'`}
	}
	qs := queries(stmts, dbdriver.Values{Username: req.Username, Password: pw})
	return d.scrub(dbdriver.ExecTx(ctx, d.db, "rotation statement", qs), req.Password, pw)
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

func (d *driver) exists(ctx context.Context, username string) (bool, error) {
	var exists bool
	err := d.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, username).Scan(&exists)
	return exists, err
}

// quoteIdent quotes a name as a PostgreSQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
