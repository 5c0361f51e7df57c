package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/logical"
)

// errUnsettled reports a rotation whose outcome could not be found out:
// neither password logs in and the new one could not be set again.
var errUnsettled = errors.New("neither the previous nor the new password logs in")

// accountsOf returns what static roles need from c's driver.
func accountsOf(c *conn) (dbdriver.Accounts, error) {
	acc, ok := c.driver.(dbdriver.Accounts)
	if !ok {
		return nil, logical.InvalidRequest("plugin %q does not support static roles", c.cfg.PluginName)
	}
	return acc, nil
}

// checkStaticUser makes sure static role name may manage r.Username
// through c: the config allows the role, the user is not the one the
// config logs in as (that is what rotate-root is for: a static role
// rotating it would leave the config with a password that no longer
// works), and, when mustExist, the user exists.
func (b *backend) checkStaticUser(ctx context.Context, c *conn, name string, r *staticRole, mustExist bool) error {
	if !allowedRole(c.cfg.AllowedRoles, name) {
		return logical.InvalidRequest("%q is not an allowed role", name)
	}
	acc, err := accountsOf(c)
	if err != nil {
		return err
	}
	rootErr := logical.InvalidRequest("%q is the root user of database %q: a static role cannot manage it; rotate it with database/rotate-root/%s",
		r.Username, r.DBName, r.DBName)
	if r.Username == c.cfg.Username {
		return rootErr
	}
	root, err := acc.RootUser(ctx)
	if err != nil {
		return dbError(r.DBName, "looking up its root user", err)
	}
	if root == r.Username {
		return rootErr
	}
	if !mustExist {
		return nil
	}
	exists, err := acc.UserExists(ctx, r.Username)
	if err != nil {
		return dbError(r.DBName, fmt.Sprintf("looking up user %q", r.Username), err)
	}
	if !exists {
		return logical.InvalidRequest("user %q does not exist in database %q: a static role manages the password of an existing user, so create the user first",
			r.Username, r.DBName)
	}
	return nil
}

// rotateStatic gives static role name a new password, in the database and
// in storage, and updates r (its stored record) to match. It first settles
// a rotation left unfinished; when that shows the new password took
// effect, that is the rotation. The caller holds the role's lock.
//
// The order of writes is what keeps the working password: the new one is
// stored as pending before the database is asked to change, so whatever
// fails afterwards (the database, storage, the process), the record holds
// both the old and the new password, and settleStatic finds out which one
// the database has.
func (b *backend) rotateStatic(ctx context.Context, name string, r *staticRole) error {
	return b.withConn(ctx, r.DBName, func(c *conn) error {
		if err := b.checkStaticUser(ctx, c, name, r, false); err != nil {
			return err
		}
		if r.PendingPassword != "" {
			adopted, err := b.settleStatic(ctx, c, name, r, true)
			if err != nil || adopted {
				return err
			}
		}
		return b.setStaticPassword(ctx, c, name, r)
	})
}

// setStaticPassword runs one rotation of r through c.
func (b *backend) setStaticPassword(ctx context.Context, c *conn, name string, r *staticRole) error {
	r.PendingPassword = newPassword()
	if err := b.saveStaticRole(ctx, name, r); err != nil {
		r.PendingPassword = ""
		return err
	}
	err := c.driver.RotatePassword(ctx, dbdriver.RotatePasswordRequest{
		Username: r.Username, Password: r.PendingPassword, Statements: r.RotationStatements,
	})
	if err == nil {
		return b.adoptPending(ctx, name, r)
	}
	doing := fmt.Sprintf("rotating the password of static role %q", name)
	if errors.Is(err, dbdriver.ErrUnavailable) {
		// Nothing ran: the old password is still the one.
		r.PendingPassword = ""
		if serr := b.saveStaticRole(ctx, name, r); serr != nil {
			b.logger.Error("could not clear the new password of a failed rotation; it is settled on the next attempt",
				"role", name, "error", serr.Error())
		}
		return dbError(r.DBName, doing, err)
	}
	// The statements failed, possibly after some took effect (MySQL
	// commits each ALTER USER on its own): find out which password works.
	if adopted, serr := b.settleStatic(ctx, c, name, r, false); serr == nil && adopted {
		b.logger.Warn("a rotation statement failed but the new password took effect", "role", name, "database", r.DBName,
			"error", dbdriver.ScrubString(err.Error(), r.secrets()...))
		return nil
	}
	return dbError(r.DBName, doing, err)
}

// adoptPending makes r's pending password the one in force, now.
func (b *backend) adoptPending(ctx context.Context, name string, r *staticRole) error {
	now := b.now()
	r.Password, r.PendingPassword = r.PendingPassword, ""
	r.LastVaultRotation = now
	r.NextVaultRotation = r.nextAfter(now)
	return b.saveStaticRole(ctx, name, r)
}

// settleStatic finishes a rotation of r whose outcome is unknown (its
// record still has a pending password): the pending password becomes the
// one in force when it logs in; the pending one is dropped when the old
// one logs in; otherwise, with rollForward, the pending password is set
// again, so that the database ends up with a password Coffer holds either
// way. It reports whether the pending password was adopted; an error
// leaves the record as it was.
func (b *backend) settleStatic(ctx context.Context, c *conn, name string, r *staticRole, rollForward bool) (bool, error) {
	acc, err := accountsOf(c)
	if err != nil {
		return false, err
	}
	if err := acc.CheckLogin(ctx, r.Username, r.PendingPassword); err == nil {
		b.logger.Info("finished an interrupted rotation: the new password is in force", "role", name, "database", r.DBName)
		return true, b.adoptPending(ctx, name, r)
	}
	if r.Password != "" {
		if err := acc.CheckLogin(ctx, r.Username, r.Password); err == nil {
			r.PendingPassword = ""
			b.logger.Info("settled an interrupted rotation: the previous password is still in force", "role", name, "database", r.DBName)
			return false, b.saveStaticRole(ctx, name, r)
		}
	}
	if !rollForward {
		return false, errUnsettled
	}
	err = c.driver.RotatePassword(ctx, dbdriver.RotatePasswordRequest{
		Username: r.Username, Password: r.PendingPassword, Statements: r.RotationStatements,
	})
	if err != nil {
		return false, dbError(r.DBName, fmt.Sprintf("finishing an interrupted rotation of static role %q (%v)", name, errUnsettled), err)
	}
	b.logger.Info("finished an interrupted rotation by setting the new password again", "role", name, "database", r.DBName)
	return true, b.adoptPending(ctx, name, r)
}

// validStaticUsername refuses names no database user can sensibly have
// and names that would be read as templates by the rotation statements.
func validStaticUsername(u string) error {
	switch {
	case u == "":
		return logical.InvalidRequest("username is a required field to create a static account")
	case strings.Contains(u, "{{") || strings.Contains(u, "}}"):
		return logical.InvalidRequest("username must not contain {{ or }}")
	case strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return logical.InvalidRequest("username must not contain control characters")
	case strings.TrimSpace(u) != u:
		// MySQL compares names ignoring trailing spaces, so "root " would
		// pass the checks as another user and then fail at the database.
		return logical.InvalidRequest("username must not begin or end with white space")
	}
	return nil
}
