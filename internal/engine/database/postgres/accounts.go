package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// UserExists looks the name up in pg_roles.
func (d *driver) UserExists(ctx context.Context, username string) (bool, error) {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return false, d.scrub(err)
	}
	defer conn.Close()
	var exists bool
	err = conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, username).Scan(&exists)
	if err != nil {
		return false, d.scrub(fmt.Errorf("look up user %q: %w", username, err))
	}
	return exists, nil
}

// RootUser is the session user: the login, whatever SET ROLE did since.
func (d *driver) RootUser(ctx context.Context) (string, error) {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return "", d.scrub(err)
	}
	defer conn.Close()
	var name string
	if err := conn.QueryRowContext(ctx, `SELECT session_user`).Scan(&name); err != nil {
		return "", d.scrub(fmt.Errorf("look up the root user: %w", err))
	}
	return name, nil
}

// CheckLogin connects once with the pool's settings (host, database, TLS)
// as username. A refusal by the server is a plain error; anything that
// kept the server from answering wraps dbdriver.ErrUnavailable.
func (d *driver) CheckLogin(ctx context.Context, username, password string) error {
	cc := d.cc.Copy()
	cc.User, cc.Password = username, password
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			err = dbdriver.Unavailable(err)
		}
		return d.scrub(fmt.Errorf("log in as %q: %w", username, err), password)
	}
	return conn.Close(ctx)
}

// Server is the host and port the pool dials first.
func (d *driver) Server() string {
	return "postgres " + net.JoinHostPort(d.cc.Host, strconv.Itoa(int(d.cc.Port)))
}
