// Package dbdriver is the contract between the database secrets engine and
// the code that talks to one kind of database server (PostgreSQL, MySQL):
// the Plugin a config names, the Driver it opens, and the helpers every SQL
// driver shares (statement splitting and templating, scrubbing passwords
// out of errors, running statements in a transaction).
//
// It holds no state and knows nothing about roles, leases or storage: the
// engine decides who gets which user, the driver only runs statements.
package dbdriver

import (
	"context"
	"time"
)

// Config is what a Driver needs to reach its server, taken from
// database/config/<name>. Password is secret: a Driver never puts it (or
// any other password it is given) in an error, a log line or a string it
// returns.
type Config struct {
	// ConnectionURL is the DSN as written, possibly templated with
	// {{username}} and {{password}}.
	ConnectionURL string
	// Username and Password are the root credentials the templates name.
	Username string
	Password string
	// MaxOpenConnections caps the pool (zero: 4, as in Vault);
	// MaxIdleConnections is the idle limit (zero: MaxOpenConnections,
	// negative: none); MaxConnectionLifetime recycles connections (zero:
	// never).
	MaxOpenConnections    int
	MaxIdleConnections    int
	MaxConnectionLifetime time.Duration
	// PasswordAuthentication is PostgreSQL's "password" (the default: the
	// server hashes) or "scram-sha-256" (the driver sends a SCRAM verifier,
	// so the cleartext never reaches the server). Other drivers ignore it.
	PasswordAuthentication string
}

// DefaultMaxOpenConnections is the pool size when a config sets none.
const DefaultMaxOpenConnections = 4

// Driver is one pooled connection to one database server, opened from one
// Config. All methods are safe for concurrent use. Every error has the
// passwords it could contain removed; an error wrapping ErrUnavailable
// means the server could not be reached or refused the root login, and
// nothing was changed.
type Driver interface {
	// CreateUser runs the creation statements. When one fails it runs the
	// rollback statements (or, when there are none, the default
	// revocation) so that no half-made user is left behind, and returns
	// the creation error.
	CreateUser(ctx context.Context, req CreateUserRequest) error
	// RenewUser runs the renewal statements with the new expiration (the
	// driver's default when there are none; it may do nothing).
	RenewUser(ctx context.Context, req RenewUserRequest) error
	// RevokeUser runs the revocation statements, or the driver's default:
	// end the user's sessions and drop it. Revoking a user that no longer
	// exists succeeds, so a retried revocation converges.
	RevokeUser(ctx context.Context, req RevokeUserRequest) error
	// RotatePassword sets a new password for an existing user (the root
	// user or a static role's), with the given statements or the
	// driver's default.
	RotatePassword(ctx context.Context, req RotatePasswordRequest) error
	// Verify connects and pings the server.
	Verify(ctx context.Context) error
	// Close closes the pool; later calls fail.
	Close() error
}

// Accounts is what a Driver offers on top of Driver for static roles,
// which manage the password of a user that exists already; the engine
// finds it by type assertion. All methods are safe for concurrent use and
// never put a password in an error.
type Accounts interface {
	// UserExists reports whether a user of that name exists (any host,
	// for MySQL).
	UserExists(ctx context.Context, username string) (bool, error)
	// RootUser returns the name the pool logs in as, as the server sees
	// it (for MySQL without the host).
	RootUser(ctx context.Context) (string, error)
	// CheckLogin logs in once as username with password over a
	// connection of its own, to the server the pool reaches, and returns
	// nil when that works. An error means the login failed or the server
	// could not be reached; it wraps ErrUnavailable only in the latter
	// case when the driver can tell.
	CheckLogin(ctx context.Context, username, password string) error
	// Server names the server the pool dials (network and address, as
	// parsed from the config, without connecting), so that two configs
	// reaching one server, whose users are the same, can be told apart.
	Server() string
}

// CreateUserRequest asks for a new database user. Statements may use
// {{name}}, {{username}}, {{password}} and {{expiration}}.
type CreateUserRequest struct {
	Username   string
	Password   string
	Expiration time.Time
	Statements []string
	// Rollback statements undo a creation that failed half-way; they may
	// use {{name}} and {{username}}.
	Rollback []string
}

// RenewUserRequest moves a user's expiration. Statements may use {{name}},
// {{username}} and {{expiration}}.
type RenewUserRequest struct {
	Username   string
	Expiration time.Time
	Statements []string
}

// RevokeUserRequest removes a user. Statements may use {{name}} and
// {{username}}.
type RevokeUserRequest struct {
	Username   string
	Statements []string
}

// RotatePasswordRequest sets Password for Username. Statements may use
// {{name}}, {{username}} and {{password}}.
type RotatePasswordRequest struct {
	Username   string
	Password   string
	Statements []string
}

// Plugin is one kind of database, as a config's plugin_name names it. A
// Plugin is stateless and safe for concurrent use.
type Plugin interface {
	// Open checks c and returns a Driver for it without connecting; a
	// config that cannot work (an unparsable URL, an unknown option) is
	// an error wrapping ErrBadConfig.
	Open(c Config) (Driver, error)
	// DefaultUsernameTemplate is the username_template used when a config
	// sets none (Vault's, for the same plugin name).
	DefaultUsernameTemplate() string
	// ConnectionURL renders the config's connection_url for a generated
	// user, ready for an application: the {{username}} and {{password}}
	// templates filled in (escaped as the URL's form needs unless
	// noEscape), or, in a URL without templates, the credentials put in
	// place of whatever it carried.
	ConnectionURL(connectionURL, username, password string, noEscape bool) string
	// Redact returns connectionURL with any literal password replaced,
	// for reading a config back.
	Redact(connectionURL string) string
	// MaxUsernameLength is the longest user name the database keeps as
	// given (PostgreSQL silently truncates longer ones, which would make
	// them impossible to revoke by name); zero when the database refuses
	// names that are too long by itself.
	MaxUsernameLength() int
}
