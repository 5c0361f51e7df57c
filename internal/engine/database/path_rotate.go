package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) rotatePaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    "rotate-root/" + framework.GenericNameRegex("name"),
		Fields:     map[string]*framework.FieldSchema{"name": nameField("Name of the database connection.")},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rotateRoot},
		Help:       "Give the root user of a connection a new password that only Coffer knows.",
	}}
}

// rotateRoot sets a new root password in the database and in the config.
// The new password is stored as pending first, so that a crash after the
// database changed cannot lose it (recoverRotation finds which one works);
// the pool is then replaced, so that nothing keeps using the old password,
// which stops working at once.
func (b *backend) rotateRoot(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := b.loadConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNoConfig(name)
	}
	if cfg.PendingPassword != "" {
		if cfg, err = b.recoverRotationLocked(ctx, name, cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.Username == "":
		return nil, logical.InvalidRequest("unable to rotate root credentials: no username in configuration")
	case cfg.Password == "":
		return nil, logical.InvalidRequest("unable to rotate root credentials: no password in configuration")
	}
	old, err := b.openConn(name, cfg)
	if err != nil {
		return nil, err
	}
	defer old.close()
	next := newPassword()
	cfg.PendingPassword = next
	if err := b.saveConfig(ctx, name, cfg); err != nil {
		return nil, err
	}
	err = old.driver.RotatePassword(ctx, dbdriver.RotatePasswordRequest{Username: cfg.Username, Password: next, Statements: cfg.RootRotationStatements})
	if err != nil {
		if errors.Is(err, dbdriver.ErrUnavailable) {
			// Nothing ran: the old password is still the one.
			cfg.PendingPassword = ""
			if serr := b.saveConfig(ctx, name, cfg); serr != nil {
				b.logger.Error("could not clear a pending root rotation", "config", name, "error", serr.Error())
			}
		}
		b.swapConn(name, nil)
		return nil, dbError(name, "rotating the root password", err)
	}
	cfg.Password, cfg.PendingPassword = next, ""
	if err := b.saveConfig(ctx, name, cfg); err != nil {
		b.swapConn(name, nil)
		return nil, err
	}
	c, err := b.openConn(name, cfg)
	if err != nil {
		return nil, err
	}
	b.swapConn(name, c)
	return nil, nil
}

// recoverRotation settles a rotation that did not finish (the server
// stopped between storing the pending password and storing the result):
// whichever password logs in becomes the root password.
func (b *backend) recoverRotation(ctx context.Context, name string) (*dbConfig, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := b.loadConfig(ctx, name)
	if err != nil || cfg == nil || cfg.PendingPassword == "" {
		return cfg, err
	}
	return b.recoverRotationLocked(ctx, name, cfg)
}

func (b *backend) recoverRotationLocked(ctx context.Context, name string, cfg *dbConfig) (*dbConfig, error) {
	pending := *cfg
	pending.Password, pending.PendingPassword = cfg.PendingPassword, ""
	err := b.tryLogin(ctx, name, &pending)
	if err == nil {
		cfg = &pending
	} else if err = b.tryLogin(ctx, name, cfg); err == nil {
		cfg.PendingPassword = ""
	} else {
		return nil, dbError(name, "finishing an interrupted root rotation", err)
	}
	if err := b.saveConfig(ctx, name, cfg); err != nil {
		return nil, err
	}
	b.logger.Info("finished an interrupted root rotation", "config", name)
	return cfg, nil
}

// tryLogin opens a throwaway pool for cfg and logs in once.
func (b *backend) tryLogin(ctx context.Context, name string, cfg *dbConfig) error {
	c, err := b.openConn(name, cfg)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer c.close()
	return c.driver.Verify(ctx)
}
