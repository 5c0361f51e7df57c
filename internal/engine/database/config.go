package database

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/logical"
)

// dbConfig is one stored connection (config/<name>). Password is the root
// password: it stays in storage, inside the barrier, and is never returned.
type dbConfig struct {
	PluginName             string        `json:"plugin_name"`
	ConnectionURL          string        `json:"connection_url"`
	Username               string        `json:"username,omitempty"`
	Password               string        `json:"password,omitempty"`
	AllowedRoles           []string      `json:"allowed_roles,omitempty"`
	VerifyConnection       bool          `json:"verify_connection"`
	MaxOpenConnections     int           `json:"max_open_connections,omitempty"`
	MaxIdleConnections     int           `json:"max_idle_connections,omitempty"`
	MaxConnectionLifetime  time.Duration `json:"max_connection_lifetime,omitempty"`
	UsernameTemplate       string        `json:"username_template,omitempty"`
	PasswordAuthentication string        `json:"password_authentication,omitempty"`
	DisableEscaping        bool          `json:"disable_escaping,omitempty"`
	RootRotationStatements []string      `json:"root_rotation_statements,omitempty"`
	// SkipStaticRoleImportRotation is the default of a new static role's
	// skip_import_rotation.
	SkipStaticRoleImportRotation bool `json:"skip_static_role_import_rotation,omitempty"`
	// PendingPassword is set while rotate-root runs: the new root password,
	// stored before the database is changed, so that a crash between the
	// two cannot lose the only working password (see recoverRotation).
	PendingPassword string `json:"pending_password,omitempty"`
}

// driverConfig is what the driver is opened with.
func (c *dbConfig) driverConfig() dbdriver.Config {
	return dbdriver.Config{
		ConnectionURL: c.ConnectionURL, Username: c.Username, Password: c.Password,
		MaxOpenConnections: c.MaxOpenConnections, MaxIdleConnections: c.MaxIdleConnections,
		MaxConnectionLifetime: c.MaxConnectionLifetime, PasswordAuthentication: c.PasswordAuthentication,
	}
}

// secrets are the passwords a message about c must not contain.
func (c *dbConfig) secrets() []string { return []string{c.Password, c.PendingPassword} }

func (b *backend) loadConfig(ctx context.Context, name string) (*dbConfig, error) {
	var c dbConfig
	ok, err := logical.GetJSON(ctx, b.storage, configPrefix+name, &c)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}

func (b *backend) saveConfig(ctx context.Context, name string, c *dbConfig) error {
	if err := logical.PutJSON(ctx, b.storage, configPrefix+name, c); err != nil {
		return fmt.Errorf("store config %q: %w", name, err)
	}
	return nil
}

// plugin returns the driver a config names, or a 400 naming the choices.
func (b *backend) plugin(name string) (dbdriver.Plugin, error) {
	p, ok := b.plugins[name]
	if !ok {
		return nil, logical.InvalidRequest("unknown plugin_name %q: use postgresql-database-plugin or mysql-database-plugin "+
			"(mysql-aurora-database-plugin, mysql-rds-database-plugin and mysql-legacy-database-plugin are MySQL too)", name)
	}
	return p, nil
}
