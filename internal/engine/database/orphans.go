package database

import (
	"context"
	"errors"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/logical"
)

// orphan is a user whose creation failed part-way and could not be undone
// (the database went away in between): it is kept in storage and removed
// from the database by the sweeper once the database answers again.
type orphan struct {
	DBName     string   `json:"db_name"`
	Username   string   `json:"username"`
	Rollback   []string `json:"rollback_statements,omitempty"`
	Revocation []string `json:"revocation_statements,omitempty"`
}

// orphanSweepInterval is how often the sweeper retries.
const orphanSweepInterval = time.Minute

// recordOrphan stores o for the sweeper. Best effort: a failure is logged
// with the user's name, which is not secret.
func (b *backend) recordOrphan(ctx context.Context, o orphan) {
	if err := logical.PutJSON(context.WithoutCancel(ctx), b.storage, orphanPrefix+o.Username, o); err != nil {
		b.logger.Error("could not record a database user whose creation failed half-way; remove it by hand",
			"config", o.DBName, "username", o.Username, "error", err.Error())
		return
	}
	b.logger.Warn("a database user whose creation failed half-way will be removed when the database answers",
		"config", o.DBName, "username", o.Username)
}

// sweepOrphans tries once to remove every recorded orphan: with its
// rollback statements (else its role's revocation statements), and when
// those fail with the database up, with the default revocation. It returns
// how many remain.
func (b *backend) sweepOrphans(ctx context.Context) int {
	keys, err := b.storage.List(ctx, orphanPrefix)
	if err != nil {
		b.logger.Error("list orphaned database users", "error", err.Error())
		return -1
	}
	left := 0
	for _, k := range keys {
		var o orphan
		if ok, err := logical.GetJSON(ctx, b.storage, orphanPrefix+k, &o); err != nil || !ok {
			continue
		}
		stmts := o.Rollback
		if len(stmts) == 0 {
			stmts = o.Revocation
		}
		err := b.withConn(ctx, o.DBName, func(c *conn) error {
			err := c.driver.RevokeUser(ctx, dbdriver.RevokeUserRequest{Username: o.Username, Statements: stmts})
			if err != nil && len(stmts) > 0 && !errors.Is(err, dbdriver.ErrUnavailable) {
				err = c.driver.RevokeUser(ctx, dbdriver.RevokeUserRequest{Username: o.Username})
			}
			return err
		})
		if err == nil {
			err = b.storage.Delete(ctx, orphanPrefix+k)
		}
		if err != nil {
			left++
			b.logger.Debug("orphaned database user not removed yet", "config", o.DBName, "username", o.Username, "error", err.Error())
		}
	}
	return left
}

// startOrphanSweeper runs sweepOrphans every orphanSweepInterval until
// cleanup.
func (b *backend) startOrphanSweeper() {
	ctx, cancel := context.WithCancel(context.Background())
	b.stop, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		t := time.NewTicker(orphanSweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.sweepOrphans(ctx)
			}
		}
	}()
}
