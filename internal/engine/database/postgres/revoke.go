package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// defaultRevoke removes a user when its role names no revocation
// statements, so that DROP ROLE cannot fail on what the user left behind:
// no new logins, its sessions ended, what it owns in this database handed
// to the root user (so an application's tables survive), its remaining
// privileges dropped, then the role. A root that may not take over the
// user's objects falls back to Vault's default: revoke the user's
// privileges in the public schema and on the database, then drop it. A
// user that does not exist is already revoked.
func (d *driver) defaultRevoke(ctx context.Context, username string) error {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, username).Scan(&exists); err != nil {
		return fmt.Errorf("look up user %q: %w", username, err)
	}
	if !exists {
		return nil
	}
	q := quoteIdent(username)
	if _, err := conn.ExecContext(ctx, `ALTER ROLE `+q+` NOLOGIN`); err != nil {
		return fmt.Errorf("disable logins of %q: %w", username, err)
	}
	// Best effort: a root without pg_signal_backend cannot end them, and
	// DROP ROLE works with sessions open.
	_, _ = conn.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`, username)
	if err := execConn(ctx, conn, `REASSIGN OWNED BY `+q+` TO CURRENT_USER`, `DROP OWNED BY `+q, `DROP ROLE IF EXISTS `+q); err == nil {
		return nil
	}
	var dbname string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbname); err != nil {
		return fmt.Errorf("revoke %q: %w", username, err)
	}
	for _, stmt := range []string{
		`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ` + q,
		`REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ` + q,
		`REVOKE USAGE ON SCHEMA public FROM ` + q,
		`REVOKE CONNECT ON DATABASE ` + quoteIdent(dbname) + ` FROM ` + q,
	} {
		_, _ = conn.ExecContext(ctx, stmt)
	}
	if _, err := conn.ExecContext(ctx, `DROP ROLE IF EXISTS `+q); err != nil {
		return fmt.Errorf("drop user %q: %w", username, err)
	}
	return nil
}

// execConn runs queries in one transaction on conn.
func execConn(ctx context.Context, conn *sql.Conn, queries ...string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range queries {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}
