package postgres

import "errors"

var (
	// ErrNoConnectionURL means neither the configuration nor the
	// environment named a database.
	ErrNoConnectionURL = errors.New("no connection_url: set it in the storage block or in COFFER_PG_CONNECTION_URL (or VAULT_PG_CONNECTION_URL)")
	// ErrBadConnectionURL means the connection URL does not parse; the
	// error never repeats the URL, which may hold a password.
	ErrBadConnectionURL = errors.New("connection_url is not a valid PostgreSQL URL or key=value string")
	// ErrBadTable means the table name is not a plain SQL identifier,
	// optionally schema-qualified.
	ErrBadTable = errors.New(`table must be a plain identifier such as coffer_kv_store or myschema.coffer_kv_store (letters, digits, "_", "$", not starting with a digit, at most 63 bytes a part)`)
	// ErrInUse means another Coffer server holds the table: without HA only
	// one may use a table at a time.
	ErrInUse = errors.New("another coffer server is using this table (only one may without ha_enabled); stop it or set another table; a server whose host died holds it until PostgreSQL notices, about a minute")
	// ErrHADisabled is returned by the HA methods of a backend opened
	// without HAEnabled.
	ErrHADisabled = errors.New("ha_enabled is not set on this postgresql storage")
	// ErrBadHAConfig is wrapped by refusals of the HA lock's settings.
	ErrBadHAConfig = errors.New("invalid postgresql ha settings")
	// ErrNilEntry is returned when a transaction op carries no entry.
	ErrNilEntry = errors.New("transaction op has no entry")
	// ErrEmptyKey is returned for writes to the empty key.
	ErrEmptyKey = errors.New("key must not be empty")
)
