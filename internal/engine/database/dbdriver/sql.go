package dbdriver

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Pool applies c's pool settings to db, with Vault's defaults: 4 open
// connections, as many idle, reused forever.
func Pool(db *sql.DB, c Config) {
	open := c.MaxOpenConnections
	if open <= 0 {
		open = DefaultMaxOpenConnections
	}
	idle := c.MaxIdleConnections
	switch {
	case idle == 0 || idle > open:
		idle = open
	case idle < 0:
		idle = 0
	}
	db.SetMaxOpenConns(open)
	db.SetMaxIdleConns(idle)
	db.SetConnMaxLifetime(max(c.MaxConnectionLifetime, 0))
}

// DefaultConnectTimeout bounds a connection attempt when the URL sets no
// timeout, so that a server that drops packets fails a request in seconds
// rather than hanging it.
const DefaultConnectTimeout = 10 * time.Second

// Conn takes a live connection from db: each one is pinged first, and a
// dead one (the server restarted, say) is dropped and the next tried.
// Failing to get one wraps ErrUnavailable: nothing has been run yet.
func Conn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	var last error
	for range connAttempts {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, Unavailable(err)
		}
		if last = conn.PingContext(ctx); last == nil {
			return conn, nil
		}
		_ = conn.Close()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, Unavailable(last)
}

// connAttempts bounds how many pooled connections Conn tries: more than a
// pool holds idle by default, so a pool whose server restarted recovers on
// the first request.
const connAttempts = 2*DefaultMaxOpenConnections + 1

// ExecTx runs queries in one transaction on one connection of db and
// commits. what names the queries in an error ("creation statement"), which
// says which one failed but never quotes it (it may hold a password).
func ExecTx(ctx context.Context, db *sql.DB, what string, queries []string) error {
	conn, err := Conn(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return Unavailable(fmt.Errorf("begin: %w", err))
	}
	defer func() { _ = tx.Rollback() }()
	for i, q := range queries {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s %d of %d failed: %w", what, i+1, len(queries), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit %ss: %w", what, err)
	}
	return nil
}
