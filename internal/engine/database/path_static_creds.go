package database

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) staticCredsPaths() []*framework.Path {
	name := map[string]*framework.FieldSchema{"name": nameField("Name of the static role.")}
	return []*framework.Path{
		{
			Pattern:    "static-creds/" + framework.GenericNameRegex("name"),
			Fields:     name,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.readStaticCreds},
			Help:       "The current password of a static role's user.",
		},
		{
			Pattern:    "rotate-role/" + framework.GenericNameRegex("name"),
			Fields:     name,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rotateRole},
			Help:       "Give a static role's user a new password now.",
		},
	}
}

// readStaticCreds answers the user name and the password in force, when
// it was set, how long until the next rotation (ttl, in seconds), the
// rotation settings as Vault reports them, and the config's connection_url
// rendered for the user. A role whose last rotation did not finish is
// settled first (which needs the database): the caller never gets a
// password that may already have been replaced.
func (b *backend) readStaticCreds(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown role: %s", name)
	}
	if r.PendingPassword != "" {
		if r, err = b.settleForRead(ctx, name); err != nil || r == nil {
			return nil, err
		}
	}
	cfg, err := b.loadConfig(ctx, r.DBName)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNoConfig(r.DBName)
	}
	if !allowedRole(cfg.AllowedRoles, name) {
		return nil, logical.InvalidRequest("%q is not an allowed role", name)
	}
	ttl := max(r.NextVaultRotation.Sub(b.now()), 0).Round(time.Second)
	data := map[string]any{
		"username": r.Username,
		"password": r.Password,
		"ttl":      int64(ttl.Seconds()),
	}
	if !r.LastVaultRotation.IsZero() {
		data["last_vault_rotation"] = r.LastVaultRotation
	}
	rotationFields(r, data)
	resp := logical.DataResponse(data)
	if r.Password == "" {
		resp.AddWarning("the password of this role is not known yet: it was created with skip_import_rotation and has not been rotated; write database/rotate-role/" + name + " to set one")
		return resp, nil
	}
	if p, err := b.plugin(cfg.PluginName); err == nil {
		data["connection_url"] = p.ConnectionURL(cfg.ConnectionURL, r.Username, r.Password, cfg.DisableEscaping)
	}
	return resp, nil
}

// settleForRead settles role name's unfinished rotation under its lock
// and returns the record as it then stands (nil when the role is gone).
func (b *backend) settleForRead(ctx context.Context, name string) (*staticRole, error) {
	unlock := b.static.locks.lock(name)
	defer unlock()
	r, err := b.loadStaticRole(ctx, name)
	if err != nil || r == nil || r.PendingPassword == "" {
		if r == nil && err == nil {
			return nil, logical.InvalidRequest("unknown role: %s", name)
		}
		return r, err
	}
	err = b.withConn(ctx, r.DBName, func(c *conn) error {
		_, err := b.settleStatic(ctx, c, name, r, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.sched.set(name, r.NextVaultRotation)
	return r, nil
}

// rotateRole rotates a static role's password now and schedules the next
// rotation from now; a failure keeps the old password, is a 502 naming
// the database, and is retried in the background.
func (b *backend) rotateRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	unlock := b.static.locks.lock(name)
	defer unlock()
	r, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("no static role found for role name")
	}
	err = b.rotateStatic(ctx, name, r)
	b.sched.after(ctx, name, err)
	return nil, err
}
