package database

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// role is one dynamic role (roles/<name>): which database, the statements
// that create, renew, revoke and roll back its users, and its TTLs.
type role struct {
	DBName     string        `json:"db_name"`
	Creation   []string      `json:"creation_statements"`
	Revocation []string      `json:"revocation_statements,omitempty"`
	Rollback   []string      `json:"rollback_statements,omitempty"`
	Renewal    []string      `json:"renew_statements,omitempty"`
	DefaultTTL time.Duration `json:"default_ttl,omitempty"`
	MaxTTL     time.Duration `json:"max_ttl,omitempty"`
}

func (b *backend) loadRole(ctx context.Context, name string) (*role, error) {
	var r role
	ok, err := logical.GetJSON(ctx, b.storage, rolePrefix+name, &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

func roleFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"name":                  nameField("Name of the role."),
		"db_name":               {Type: framework.TypeString, Description: "Name of the database connection the role uses."},
		"creation_statements":   statementsField("Statements that create a user: {{name}}, {{password}}, {{expiration}}."),
		"revocation_statements": statementsField("Statements that remove a user: {{name}}. Default: end its sessions and drop it."),
		"rollback_statements":   statementsField("Statements that undo a failed creation: {{name}}. Default: the default revocation."),
		"renew_statements":      statementsField("Statements that extend a user: {{name}}, {{expiration}}."),
		"default_ttl":           {Type: framework.TypeDurationSecond, Description: "Lease TTL of credentials (0: the mount's)."},
		"max_ttl":               {Type: framework.TypeDurationSecond, Description: "Longest life of credentials (0: the mount's)."},
		"credential_type":       {Type: framework.TypeString, Default: "password", Description: "Only \"password\"."},
	}
}

func (b *backend) rolePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "roles" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listRoles},
			Help:       "List the roles.",
		},
		{
			Pattern: "roles/" + framework.GenericNameRegex("name"),
			Fields:  roleFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readRole,
				logical.CreateOperation: b.writeRole,
				logical.UpdateOperation: b.writeRole,
				logical.DeleteOperation: b.deleteRole,
			},
			ExistenceCheck: b.roleExists,
			Help:           "Manage the roles credentials are made for.",
		},
	}
}

func (b *backend) roleExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := b.loadRole(ctx, d.String("name"))
	return r != nil, err
}

func (b *backend) listRoles(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	return listKeys(ctx, b.storage, rolePrefix)
}

func (b *backend) readRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.loadRole(ctx, d.String("name"))
	if err != nil || r == nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"db_name":               r.DBName,
		"creation_statements":   orEmpty(r.Creation),
		"revocation_statements": orEmpty(r.Revocation),
		"rollback_statements":   orEmpty(r.Rollback),
		"renew_statements":      orEmpty(r.Renewal),
		"default_ttl":           int64(r.DefaultTTL.Seconds()),
		"max_ttl":               int64(r.MaxTTL.Seconds()),
		"credential_type":       "password",
	}), nil
}

// roleNameTaken reports whether prefix (rolePrefix or staticRolePrefix)
// holds a role called name: Vault keeps dynamic and static role names
// apart, so each kind's write checks the other.
func (b *backend) roleNameTaken(ctx context.Context, prefix, name string) error {
	e, err := b.storage.Get(ctx, prefix+name)
	if err != nil {
		return err
	}
	if e != nil {
		return logical.InvalidRequest("Role and Static Role names must be unique")
	}
	return nil
}

// writeRole creates or updates a role; an update changes only the fields
// sent.
func (b *backend) writeRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	if err := b.roleNameTaken(ctx, staticRolePrefix, name); err != nil {
		return nil, err
	}
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &role{}
	}
	if v, ok := d.GetOk("db_name"); ok {
		r.DBName = v.(string)
	}
	for field, dst := range map[string]*[]string{
		"creation_statements": &r.Creation, "revocation_statements": &r.Revocation,
		"rollback_statements": &r.Rollback, "renew_statements": &r.Renewal,
	} {
		list, ok, err := statements(d, field)
		if err != nil {
			return nil, err
		}
		if ok {
			*dst = list
		}
	}
	if _, ok := d.GetOk("default_ttl"); ok {
		r.DefaultTTL = d.Duration("default_ttl")
	}
	if _, ok := d.GetOk("max_ttl"); ok {
		r.MaxTTL = d.Duration("max_ttl")
	}
	switch {
	case r.DBName == "":
		return nil, logical.InvalidRequest("database name is required")
	case len(dbdriver.Queries(r.Creation, nil)) == 0: // blank or only ";": nothing would create the user
		return nil, logical.InvalidRequest("creation_statements are required: the statements that create a user, such as CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'")
	case d.String("credential_type") != "password":
		return nil, logical.InvalidRequest("unsupported credential_type %q: only \"password\" is supported", d.String("credential_type"))
	case r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL:
		return nil, logical.InvalidRequest("default_ttl (%s) cannot be longer than max_ttl (%s)", r.DefaultTTL, r.MaxTTL)
	}
	if err := logical.PutJSON(ctx, b.storage, rolePrefix+name, r); err != nil {
		return nil, fmt.Errorf("store role %q: %w", name, err)
	}
	return nil, nil
}

func (b *backend) deleteRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, b.storage.Delete(ctx, rolePrefix+d.String("name"))
}
