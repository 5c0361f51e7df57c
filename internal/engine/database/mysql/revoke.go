package mysql

import (
	"context"
	"errors"
	"fmt"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
)

// errUnknownThread is MySQL's ER_NO_SUCH_THREAD: the session ended by
// itself before KILL reached it.
const errUnknownThread = 1094

// defaultRevoke removes a user when its role names no revocation
// statements: DROP USER for every host it is defined for (which also
// removes its privileges and stops new logins), then its open sessions
// killed, since MySQL lets them run on. A user that does not exist is
// already revoked.
func (d *driver) defaultRevoke(ctx context.Context, username string) error {
	hosts, err := d.hosts(ctx, username)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if _, err := d.db.ExecContext(ctx, `DROP USER IF EXISTS `+quote(username)+`@`+quote(h)); err != nil {
			return fmt.Errorf("drop user %q@%q: %w", username, h, err)
		}
	}
	rows, err := d.db.QueryContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?`, username)
	if err != nil {
		return fmt.Errorf("list sessions of %q: %w", username, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, id := range ids {
		_, err := d.db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		var me *gomysql.MySQLError
		if err != nil && !(errors.As(err, &me) && me.Number == errUnknownThread) {
			return fmt.Errorf("end a session of %q: %w", username, err)
		}
	}
	return nil
}

// hosts lists the hosts username is defined for in mysql.user.
func (d *driver) hosts(ctx context.Context, username string) ([]string, error) {
	conn, err := dbdriver.Conn(ctx, d.db)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT Host FROM mysql.user WHERE User = ?`, username)
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", username, err)
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	return hosts, rows.Err()
}
