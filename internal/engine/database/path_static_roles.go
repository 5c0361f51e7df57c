package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func staticRoleFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name":                 nameField("Name of the static role."),
		"db_name":              {Type: framework.TypeString, Description: "Name of the database connection the role uses."},
		"username":             {Type: framework.TypeString, Description: "The existing database user whose password the role manages; cannot change."},
		"rotation_period":      {Type: framework.TypeDurationSecond, Description: "Time between rotations (at least 5s). Mutually exclusive with rotation_schedule."},
		"rotation_schedule":    {Type: framework.TypeString, Description: "Cron schedule of rotations (minute hour day-of-month month day-of-week). Mutually exclusive with rotation_period."},
		"rotation_window":      {Type: framework.TypeDurationSecond, Description: "With rotation_schedule: how long after a scheduled time a rotation may still run (at least 1h; 0: until it works)."},
		"rotation_statements":  statementsField("Statements that set the user's password: {{name}}, {{username}}, {{password}}. Default: the plugin's."),
		"credential_type":      {Type: framework.TypeString, Default: "password", Description: "Only \"password\"."},
		"credential_config":    {Type: framework.TypeKVPairs, Description: "Not supported: passwords are 20 letters, digits and '-'."},
		"skip_import_rotation": {Type: framework.TypeBool, Description: "On creation, do not rotate the password now (it is unknown until the first rotation). Default: the config's skip_static_role_import_rotation."},
	}
}

func (b *backend) staticRolePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "static-roles" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listStaticRoles},
			Help:       "List the static roles.",
		},
		{
			Pattern: "static-roles/" + framework.GenericNameRegex("name"),
			Fields:  staticRoleFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readStaticRole,
				logical.CreateOperation: b.writeStaticRole,
				logical.UpdateOperation: b.writeStaticRole,
				logical.DeleteOperation: b.deleteStaticRole,
			},
			ExistenceCheck: b.staticRoleExists,
			Help:           "Manage static roles: existing database users whose passwords Coffer rotates.",
		},
	}
}

func (b *backend) staticRoleExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := b.loadStaticRole(ctx, d.String("name"))
	return r != nil, err
}

func (b *backend) listStaticRoles(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return listKeys(ctx, b.storage, staticRolePrefix)
}

// readStaticRole answers in Vault's shape, never with the password.
func (b *backend) readStaticRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.loadStaticRole(ctx, d.String("name"))
	if err != nil || r == nil {
		return nil, err
	}
	data := map[string]any{
		"db_name":             r.DBName,
		"username":            r.Username,
		"rotation_statements": orEmpty(r.RotationStatements),
		"credential_type":     "password",
	}
	if !r.LastVaultRotation.IsZero() {
		data["last_vault_rotation"] = r.LastVaultRotation
	}
	rotationFields(r, data)
	return logical.DataResponse(data), nil
}

// rotationFields adds the role's rotation settings as Vault reports them:
// rotation_period, or rotation_schedule and (when set) rotation_window.
func rotationFields(r *staticRole, data map[string]any) {
	if r.RotationSchedule == "" {
		data["rotation_period"] = int64(r.RotationPeriod.Seconds())
		return
	}
	data["rotation_schedule"] = r.RotationSchedule
	if r.RotationWindow != 0 {
		data["rotation_window"] = int64(r.RotationWindow.Seconds())
	}
}

// writeStaticRole creates or updates a static role (an update changes
// only the fields sent). A new role's user must exist, must not be the
// config's root user nor another static role's user, and gets a new
// password at once unless skip_import_rotation says otherwise; nothing is
// stored when any of that fails.
func (b *backend) writeStaticRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.static.staticMu.Lock()
	defer b.static.staticMu.Unlock()
	unlock := b.static.locks.lock(name)
	defer unlock()
	if err := b.roleNameTaken(ctx, rolePrefix, name); err != nil {
		return nil, err
	}
	old, err := b.loadStaticRole(ctx, name)
	if err != nil {
		return nil, err
	}
	create := old == nil
	r := &staticRole{}
	if old != nil {
		*r = *old
	}
	skip, err := applyStaticFields(r, d, create)
	if err != nil {
		return nil, err
	}
	if create || r.DBName != old.DBName {
		if err := b.checkNewStaticUser(ctx, name, r, &skip); err != nil {
			return nil, err
		}
	}
	if !create {
		return nil, b.updateStaticRole(ctx, name, old, r, d)
	}
	if skip != nil && *skip {
		r.NextVaultRotation = r.nextAfter(b.now())
		if err := b.saveStaticRole(ctx, name, r); err != nil {
			return nil, err
		}
		b.sched.set(name, r.NextVaultRotation)
		return nil, nil
	}
	return nil, b.withConn(ctx, r.DBName, func(c *conn) error { return b.importStaticRole(ctx, c, name, r) })
}

// applyStaticFields copies the fields a write set onto r and checks them.
// It returns skip_import_rotation when it was sent (only on creation).
func applyStaticFields(r *staticRole, d *framework.FieldData, create bool) (*bool, error) {
	if v, ok := d.GetOk("db_name"); ok {
		r.DBName = v.(string)
	}
	if r.DBName == "" {
		return nil, logical.InvalidRequest("database name is a required field")
	}
	if v, ok := d.GetOk("username"); ok && create {
		r.Username = v.(string)
	} else if ok && v.(string) != r.Username {
		return nil, logical.InvalidRequest("cannot update static account username")
	}
	if err := validStaticUsername(r.Username); err != nil {
		return nil, err
	}
	if err := applyRotationFields(r, d, create); err != nil {
		return nil, err
	}
	stmts, ok, err := statements(d, "rotation_statements")
	if err != nil {
		return nil, err
	}
	if ok {
		r.RotationStatements = stmts
	}
	if ct := d.String("credential_type"); ct != "password" {
		return nil, logical.InvalidRequest("unsupported credential_type %q: only \"password\" is supported", ct)
	}
	if cc, ok := d.GetOk("credential_config"); ok && len(cc.(map[string]string)) > 0 {
		return nil, logical.InvalidRequest("credential_config is not supported: passwords are 20 characters of letters, digits and '-', with at least one of each kind")
	}
	v, ok := d.GetOk("skip_import_rotation")
	if !ok {
		return nil, nil
	}
	if !create {
		return nil, logical.InvalidRequest("skip_import_rotation has no effect on updates")
	}
	skip := v.(bool)
	return &skip, nil
}

// applyRotationFields applies rotation_period, rotation_schedule and
// rotation_window with Vault's rules: exactly one of the first two, the
// window only with a schedule.
func applyRotationFields(r *staticRole, d *framework.FieldData, create bool) error {
	_, periodSet := d.GetOk("rotation_period")
	schedule := d.String("rotation_schedule")
	window, windowSet := d.GetOk("rotation_window")
	switch {
	case periodSet && schedule != "":
		return logical.InvalidRequest("mutually exclusive fields rotation_period and rotation_schedule were both specified; only one of them can be provided")
	case create && !periodSet && schedule == "":
		return logical.InvalidRequest("one of rotation_schedule or rotation_period must be provided to create a static account")
	case periodSet:
		p := d.Duration("rotation_period")
		if p < minRotationPeriod {
			return logical.InvalidRequest("rotation_period must be %d seconds or more", int(minRotationPeriod.Seconds()))
		}
		if windowSet {
			return logical.InvalidRequest("rotation_window is invalid with use of rotation_period")
		}
		r.RotationPeriod, r.RotationSchedule, r.RotationWindow = p, "", 0
	case schedule != "":
		if _, err := parseSchedule(schedule); err != nil {
			return logical.InvalidRequest("could not parse rotation_schedule %q: %v", schedule, err)
		}
		r.RotationSchedule, r.RotationPeriod = schedule, 0
	}
	if !windowSet || periodSet {
		return nil
	}
	if r.RotationSchedule == "" {
		return logical.InvalidRequest("rotation_window is invalid with use of rotation_period")
	}
	w := time.Duration(window.(time.Duration))
	if w != 0 && w < minRotationWindow {
		return logical.InvalidRequest("rotation_window is invalid: rotation_window must be %d seconds or more", int(minRotationWindow.Seconds()))
	}
	r.RotationWindow = w
	return nil
}

// checkNewStaticUser checks, against the database, a role about to manage
// r.Username (a new role, or one moved to another config), and fills in
// the config's skip_static_role_import_rotation when skip is unset.
func (b *backend) checkNewStaticUser(ctx context.Context, name string, r *staticRole, skip **bool) error {
	if err := b.staticUserTaken(ctx, name, r); err != nil {
		return err
	}
	return b.withConn(ctx, r.DBName, func(c *conn) error {
		if *skip == nil {
			v := c.cfg.SkipStaticRoleImportRotation
			*skip = &v
		}
		return b.checkStaticUser(ctx, c, name, r, true)
	})
}

// staticUserTaken refuses a user another static role already manages, of
// the same config or of another config that reaches the same server (users
// belong to the server): two roles rotating one password would each hand
// out a password the other has replaced.
func (b *backend) staticUserTaken(ctx context.Context, name string, r *staticRole) error {
	keys, err := b.storage.List(ctx, staticRolePrefix)
	if err != nil {
		return err
	}
	servers := map[string]string{}
	for _, k := range keys {
		if k == name {
			continue
		}
		other, err := b.loadStaticRole(ctx, k)
		if err != nil {
			return err
		}
		if other == nil || other.Username != r.Username {
			continue
		}
		if other.DBName == r.DBName {
			return logical.InvalidRequest("user %q of database %q is already managed by static role %q", r.Username, r.DBName, k)
		}
		mine, theirs := b.serverOf(ctx, r.DBName, servers), b.serverOf(ctx, other.DBName, servers)
		if mine != "" && mine == theirs {
			return logical.InvalidRequest("user %q is already managed by static role %q of database %q, which reaches the same server as %q", r.Username, k, other.DBName, r.DBName)
		}
	}
	return nil
}

// serverOf returns the server config dbName reaches (dbdriver.Accounts'
// Server), remembered in seen; empty when the config cannot say.
func (b *backend) serverOf(ctx context.Context, dbName string, seen map[string]string) string {
	if s, ok := seen[dbName]; ok {
		return s
	}
	server := ""
	_ = b.withConn(ctx, dbName, func(c *conn) error {
		if acc, ok := c.driver.(dbdriver.Accounts); ok {
			server = acc.Server()
		}
		return nil
	})
	seen[dbName] = server
	return server
}

// importStaticRole stores a new role and gives its user a new password.
// The record is stored with the new password as pending first (see
// rotateStatic); when the database does not take the new password, the
// record is removed again, so that a failed creation leaves nothing.
func (b *backend) importStaticRole(ctx context.Context, c *conn, name string, r *staticRole) error {
	r.PendingPassword = newPassword()
	if err := b.saveStaticRole(ctx, name, r); err != nil {
		return err
	}
	err := c.driver.RotatePassword(ctx, dbdriver.RotatePasswordRequest{
		Username: r.Username, Password: r.PendingPassword, Statements: r.RotationStatements,
	})
	if err != nil && !errors.Is(err, dbdriver.ErrUnavailable) {
		// Some statements may have taken effect (MySQL commits each
		// ALTER USER on its own): keep the role if the password did.
		if acc, aerr := accountsOf(c); aerr == nil && acc.CheckLogin(ctx, r.Username, r.PendingPassword) == nil {
			err = nil
		}
	}
	if err != nil {
		if derr := b.storage.Delete(context.WithoutCancel(ctx), staticRolePrefix+name); derr != nil {
			b.logger.Error("could not remove a static role whose creation failed", "role", name, "error", derr.Error())
		}
		return dbError(r.DBName, fmt.Sprintf("setting the password of static role %q", name), err)
	}
	if err := b.adoptPending(ctx, name, r); err != nil {
		// The record keeps the new password as pending: settled (and so
		// adopted) as soon as the scheduler gets to it.
		b.sched.set(name, b.now())
		return err
	}
	b.sched.set(name, r.NextVaultRotation)
	return nil
}

// updateStaticRole stores an updated role; a changed rotation setting
// moves its next rotation to what the new setting makes of the last one.
func (b *backend) updateStaticRole(ctx context.Context, name string, old, r *staticRole, d *framework.FieldData) error {
	_, periodSet := d.GetOk("rotation_period")
	_, windowSet := d.GetOk("rotation_window")
	if periodSet || windowSet || d.String("rotation_schedule") != "" {
		if r.RotationPeriod != old.RotationPeriod || r.RotationSchedule != old.RotationSchedule {
			last := r.LastVaultRotation
			if last.IsZero() {
				last = b.now()
			}
			r.NextVaultRotation = r.nextAfter(last)
		}
	}
	if err := b.saveStaticRole(ctx, name, r); err != nil {
		return err
	}
	if r.PendingPassword != "" {
		b.sched.set(name, b.now())
	} else {
		b.sched.set(name, r.NextVaultRotation)
	}
	return nil
}

// deleteStaticRole forgets the role and its password, as Vault does: the
// database user is left as it is, with the password it has now.
func (b *backend) deleteStaticRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	b.static.staticMu.Lock()
	defer b.static.staticMu.Unlock()
	unlock := b.static.locks.lock(name)
	defer unlock()
	if err := b.storage.Delete(ctx, staticRolePrefix+name); err != nil {
		return nil, err
	}
	b.sched.remove(name)
	return nil, nil
}

// rootNotStatic refuses a config whose root user a static role of it
// manages: the role's rotations would take the config's password away.
func (b *backend) rootNotStatic(ctx context.Context, config, root string) error {
	if root == "" {
		return nil
	}
	keys, err := b.storage.List(ctx, staticRolePrefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		r, err := b.loadStaticRole(ctx, k)
		if err != nil {
			return err
		}
		if r != nil && r.DBName == config && r.Username == root {
			return logical.InvalidRequest("user %q is managed by static role %q: a static role's user cannot be the root user of its database; delete the role first", root, k)
		}
	}
	return nil
}
