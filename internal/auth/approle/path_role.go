package approle

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) rolePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "role" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listRoles},
			Help:       "List the roles.",
		},
		{
			Pattern: "role/" + framework.GenericNameRegex("role_name"),
			Fields:  roleFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readRole,
				logical.CreateOperation: b.writeRole,
				logical.UpdateOperation: b.writeRole,
				logical.DeleteOperation: b.deleteRole,
			},
			ExistenceCheck: b.roleExists,
			Help:           "Create, read, update or delete a role.",
		},
	}
}

// roleName returns the route's role_name, refusing a spelling that is not
// canonical.
func roleName(d *framework.FieldData) (string, error) {
	return canonicalName(d.String("role_name"))
}

func (b *backend) roleExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	name, err := roleName(d)
	if err != nil {
		return false, err
	}
	r, err := b.loadRole(ctx, name)
	return r != nil, err
}

// listRoles answers (nil, nil), a 404 as in Vault, when there are none.
func (b *backend) listRoles(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := b.storage.List(ctx, rolePrefix)
	if err != nil {
		return nil, err
	}
	names := keys[:0]
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	return logical.DataResponse(map[string]any{"keys": names}), nil
}

func (b *backend) readRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return logical.DataResponse(r.describe()), nil
}

// writeRole creates the role, with a random role ID unless one is given,
// or changes the fields the request sets on it.
func (b *backend) writeRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	create := r == nil
	if create {
		r = &roleEntry{}
	}
	oldID := r.RoleID
	warnings, err := r.apply(d, create, b.maxTTL())
	if err != nil {
		return nil, err
	}
	if err := b.saveRole(ctx, name, oldID, r); err != nil {
		return nil, err
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

// deleteRole deletes the role, its role_id index and every secret ID it
// issued, in one transaction; deleting a missing role succeeds.
func (b *backend) deleteRole(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	ops, err := b.secrets.deleteRoleOps(ctx, name)
	if err != nil {
		return nil, err
	}
	ops = append(ops,
		logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: roleIDPrefix + b.secrets.mac(r.RoleID)}},
		logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: rolePrefix + name}},
	)
	return nil, logical.ApplyTxn(ctx, b.storage, ops)
}

// updateRole applies change to an existing role under the write lock and
// stores it; a missing role is a 404 naming it.
func (b *backend) updateRole(ctx context.Context, d *framework.FieldData, change func(r *roleEntry) ([]string, error)) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.CodedError(logical.ErrNotFound, "role %q does not exist", name)
	}
	oldID := r.RoleID
	warnings, err := change(r)
	if err != nil {
		return nil, err
	}
	if err := b.saveRole(ctx, name, oldID, r); err != nil {
		return nil, err
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}
