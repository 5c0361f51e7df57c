package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// UserExists reports whether mysql.user holds the name for any host.
func (d *driver) UserExists(ctx context.Context, username string) (bool, error) {
	hosts, err := d.hosts(ctx, username)
	if err != nil {
		return false, d.scrub(err)
	}
	return len(hosts) > 0, nil
}

// RootUser is the account the server matched the login to, without its
// host.
func (d *driver) RootUser(ctx context.Context) (string, error) {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return "", d.scrub(err)
	}
	defer conn.Close()
	var account string
	if err := conn.QueryRowContext(ctx, `SELECT CURRENT_USER()`).Scan(&account); err != nil {
		return "", d.scrub(fmt.Errorf("look up the root user: %w", err))
	}
	if i := strings.LastIndexByte(account, '@'); i >= 0 {
		account = account[:i]
	}
	return account, nil
}

// CheckLogin connects once as username to the pool's server, without a
// default database (the user may have no privilege on the config's), and
// pings. A refusal by the server is a plain error; anything that kept it
// from answering wraps dbdriver.ErrUnavailable.
func (d *driver) CheckLogin(ctx context.Context, username, password string) error {
	mc := d.mc.Clone()
	mc.User, mc.Passwd, mc.DBName = username, password, ""
	connector, err := gomysql.NewConnector(mc)
	if err != nil {
		return d.scrub(err, password)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		var me *gomysql.MySQLError
		if !errors.As(err, &me) {
			err = dbdriver.Unavailable(err)
		}
		return d.scrub(fmt.Errorf("log in as %q: %w", username, err), password)
	}
	return nil
}

// Server is the network and address the pool dials.
func (d *driver) Server() string { return "mysql " + d.mc.Net + "(" + d.mc.Addr + ")" }
