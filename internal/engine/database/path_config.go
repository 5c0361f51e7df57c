package database

import (
	"context"
	"errors"
	"strings"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func nameField(desc string) *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: desc}
}

func configFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name":                             nameField("Name of this database connection."),
		"plugin_name":                      {Type: framework.TypeString, Description: "postgresql-database-plugin or mysql-database-plugin (also mysql-aurora-, mysql-rds-, mysql-legacy-database-plugin)."},
		"plugin_version":                   {Type: framework.TypeString, Description: "Accepted for compatibility; the built-in plugin is always used."},
		"verify_connection":                {Type: framework.TypeBool, Default: true, Description: "Connect and log in before the config is stored."},
		"allowed_roles":                    {Type: framework.TypeStringSlice, Description: "Roles (globs; \"*\" for all) that may use this connection."},
		"root_rotation_statements":         statementsField("Statements that set the root user's password on rotate-root."),
		"password_policy":                  {Type: framework.TypeString, Description: "Not supported: passwords are 20 letters, digits and '-'."},
		"connection_url":                   {Type: framework.TypeString, Description: "DSN, templated with {{username}} and {{password}}."},
		"username":                         {Type: framework.TypeString, Description: "Root user named by {{username}}."},
		"password":                         {Type: framework.TypeString, Description: "Root password named by {{password}}; never returned."},
		"max_open_connections":             {Type: framework.TypeInt, Description: "Pool size (default 4)."},
		"max_idle_connections":             {Type: framework.TypeInt, Description: "Idle connections kept (0: max_open_connections; negative: none)."},
		"max_connection_lifetime":          {Type: framework.TypeDurationSecond, Description: "How long a connection is reused (0: forever)."},
		"username_template":                {Type: framework.TypeString, Description: "Template of generated user names."},
		"password_authentication":          {Type: framework.TypeString, Description: "PostgreSQL: password (default) or scram-sha-256 (send a SCRAM verifier, never the password)."},
		"disable_escaping":                 {Type: framework.TypeBool, Description: "Do not percent-escape credentials put into a connection URL."},
		"skip_static_role_import_rotation": {Type: framework.TypeBool, Description: "Default of skip_import_rotation for new static roles of this connection."},
	}
}

func (b *backend) configPaths() []*framework.Path {
	name := framework.GenericNameRegex("name")
	return []*framework.Path{
		{
			Pattern:    "config" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listConfigs},
			Help:       "List the database connections.",
		},
		{
			Pattern: "config/" + name,
			Fields:  configFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readConfig,
				logical.CreateOperation: b.writeConfig,
				logical.UpdateOperation: b.writeConfig,
				logical.DeleteOperation: b.deleteConfig,
			},
			ExistenceCheck: b.configExists,
			Help:           "Configure a connection to a database.",
		},
		{
			Pattern:    "reset/" + name,
			Fields:     map[string]*framework.FieldSchema{"name": nameField("Name of the database connection.")},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.resetConfig},
			Help:       "Close a connection's pool and open it again.",
		},
	}
}

func (b *backend) configExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	c, err := b.loadConfig(ctx, d.String("name"))
	return c != nil, err
}

func (b *backend) listConfigs(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return listKeys(ctx, b.storage, configPrefix)
}

// listKeys answers (nil, nil), a 404 as in Vault, for an empty folder.
func listKeys(ctx context.Context, s logical.Storage, prefix string) (*logical.Response, error) {
	keys, err := s.List(ctx, prefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}

// readConfig answers in Vault's shape, without the password: a literal
// one in connection_url is masked too.
func (b *backend) readConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c, err := b.loadConfig(ctx, d.String("name"))
	if err != nil || c == nil {
		return nil, err
	}
	url := c.ConnectionURL
	if p, err := b.plugin(c.PluginName); err == nil {
		url = p.Redact(url)
	}
	details := map[string]any{
		"connection_url":          url,
		"username":                c.Username,
		"max_open_connections":    c.MaxOpenConnections,
		"max_idle_connections":    c.MaxIdleConnections,
		"max_connection_lifetime": int64(c.MaxConnectionLifetime.Seconds()),
		"disable_escaping":        c.DisableEscaping,
	}
	if c.UsernameTemplate != "" {
		details["username_template"] = c.UsernameTemplate
	}
	if c.PasswordAuthentication != "" {
		details["password_authentication"] = c.PasswordAuthentication
	}
	return logical.DataResponse(map[string]any{
		"plugin_name":                        c.PluginName,
		"plugin_version":                     "",
		"connection_details":                 details,
		"allowed_roles":                      orEmpty(c.AllowedRoles),
		"root_credentials_rotate_statements": orEmpty(c.RootRotationStatements),
		"password_policy":                    "",
		"verify_connection":                  c.VerifyConnection,
		"skip_static_role_import_rotation":   c.SkipStaticRoleImportRotation,
	}), nil
}

// writeConfig creates or updates a config (an update changes only the
// fields sent), opens its pool, logs in when verify_connection is true (a
// failure is a 400 carrying the driver's message, password removed), and
// only then stores it and replaces the old pool.
func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.configMu.Lock()
	defer b.configMu.Unlock()
	c, err := b.loadConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	oldServer := ""
	if c == nil {
		c = &dbConfig{}
	} else if c.Password != "" {
		oldServer = b.serverOfConfig(c)
	}
	resp := &logical.Response{}
	if err := applyConfigFields(c, d, resp); err != nil {
		return nil, err
	}
	if err := b.rootNotStatic(ctx, name, c.Username); err != nil {
		return nil, err
	}
	conn, err := b.openConn(name, c)
	if err != nil {
		return nil, err
	}
	if _, given := d.GetOk("password"); !given && oldServer != "" && serverOf(conn) != oldServer {
		// Else whoever may write configs but not read passwords could
		// point the URL at a server of theirs and be sent the root's.
		conn.close()
		return nil, logical.InvalidRequest("connection_url now reaches another server (%s): write the password again; the stored one goes only to the server it was given for", serverOf(conn))
	}
	if c.VerifyConnection {
		if err := conn.driver.Verify(ctx); err != nil {
			conn.close()
			return nil, logical.InvalidRequest("error creating database object: error verifying connection: %s",
				dbdriver.ScrubString(err.Error(), c.secrets()...))
		}
	}
	if err := b.saveConfig(ctx, name, c); err != nil {
		conn.close()
		return nil, err
	}
	b.swapConn(name, conn)
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// serverOfConfig is serverOf for a config without a pool: it parses it
// (without connecting) and closes it again; empty when it cannot say.
func (b *backend) serverOfConfig(c *dbConfig) string {
	p, err := b.plugin(c.PluginName)
	if err != nil {
		return ""
	}
	d, err := p.Open(c.driverConfig())
	if err != nil {
		return ""
	}
	defer d.Close()
	if acc, ok := d.(dbdriver.Accounts); ok {
		return acc.Server()
	}
	return ""
}

// serverOf is the server the pool of conn dials (dbdriver.Accounts), empty
// when the driver cannot say.
func serverOf(c *conn) string {
	if acc, ok := c.driver.(dbdriver.Accounts); ok {
		return acc.Server()
	}
	return ""
}

// applyConfigFields copies the fields a write set onto c and checks them.
func applyConfigFields(c *dbConfig, d *framework.FieldData, resp *logical.Response) error {
	setString := func(field string, dst *string) {
		if v, ok := d.GetOk(field); ok {
			*dst = v.(string)
		}
	}
	setString("plugin_name", &c.PluginName)
	setString("connection_url", &c.ConnectionURL)
	setString("username", &c.Username)
	setString("username_template", &c.UsernameTemplate)
	setString("password_authentication", &c.PasswordAuthentication)
	if v, ok := d.GetOk("password"); ok {
		c.Password, c.PendingPassword = v.(string), ""
	}
	if v, ok := d.GetOk("allowed_roles"); ok {
		c.AllowedRoles = v.([]string)
	}
	if v, ok := d.GetOk("max_open_connections"); ok {
		c.MaxOpenConnections = v.(int)
	}
	if v, ok := d.GetOk("max_idle_connections"); ok {
		c.MaxIdleConnections = v.(int)
	}
	if _, ok := d.GetOk("max_connection_lifetime"); ok {
		c.MaxConnectionLifetime = d.Duration("max_connection_lifetime")
	}
	if v, ok := d.GetOk("disable_escaping"); ok {
		c.DisableEscaping = v.(bool)
	}
	if v, ok := d.GetOk("skip_static_role_import_rotation"); ok {
		c.SkipStaticRoleImportRotation = v.(bool)
	}
	stmts, ok, err := statements(d, "root_rotation_statements")
	if err != nil {
		return err
	}
	if ok {
		c.RootRotationStatements = stmts
	}
	c.VerifyConnection = d.Bool("verify_connection")
	switch {
	case c.PluginName == "":
		return logical.InvalidRequest("empty plugin name")
	case strings.TrimSpace(c.ConnectionURL) == "":
		return logical.InvalidRequest("connection_url cannot be empty")
	case c.MaxOpenConnections < 0:
		return logical.InvalidRequest("max_open_connections must not be negative")
	case d.String("password_policy") != "":
		return logical.InvalidRequest("password_policy is not supported: generated passwords are 20 characters of letters, digits and '-', with at least one of each kind")
	case containsTemplate(c.Username) || containsTemplate(c.Password):
		return logical.InvalidRequest("username and/or password cannot contain the template variables")
	}
	if v := d.String("plugin_version"); v != "" {
		resp.AddWarning("plugin_version is ignored: the built-in " + c.PluginName + " is always used")
	}
	if hasLiteralPassword(c.ConnectionURL) {
		resp.AddWarning("Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.")
	}
	return nil
}

func containsTemplate(s string) bool {
	return strings.Contains(s, "{{username}}") || strings.Contains(s, "{{password}}")
}

// hasLiteralPassword reports a URL whose userinfo holds a password other
// than the template.
func hasLiteralPassword(u string) bool {
	i := strings.Index(u, "://")
	if i < 0 {
		return false
	}
	rest := u[i+3:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	return ok && pw != "{{password}}"
}

func (b *backend) deleteConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.configMu.Lock()
	defer b.configMu.Unlock()
	if err := b.storage.Delete(ctx, configPrefix+name); err != nil {
		return nil, err
	}
	b.swapConn(name, nil)
	return nil, nil
}

// resetConfig closes the pool of a config and opens a new one from what is
// stored, checking that it can log in.
func (b *backend) resetConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.configMu.Lock()
	b.swapConn(name, nil)
	b.configMu.Unlock()
	return nil, b.withConn(ctx, name, func(c *conn) error {
		if err := c.driver.Verify(ctx); err != nil {
			return dbError(name, "connecting", err)
		}
		return nil
	})
}

// dbError is what a client sees when a database fails: a 502 naming the
// config, with the driver's message (scrubbed of passwords by the driver).
func dbError(name, doing string, err error) error {
	if errors.Is(err, dbdriver.ErrUnavailable) {
		return logical.CodedError(logical.ErrUpstream, "database %q is unavailable: %v", name, err)
	}
	return logical.CodedError(logical.ErrUpstream, "database %q failed %s: %v", name, doing, err)
}
