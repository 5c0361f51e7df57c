package approle

import (
	"context"

	"github.com/cofferhq/coffer/internal/auth/roles"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) rolePaths() []*framework.Path {
	rt := &roles.Routes[roleEntry]{
		NameField: "role_name",
		Name:      canonicalName,
		Fields:    roleFields(),
		Help:      "Create, read, update or delete a role.",
		List:      func(ctx context.Context) ([]string, error) { return roles.List(ctx, b.storage, rolePrefix) },
		Load:      b.loadRole,
		Describe:  (*roleEntry).describe,
		Write:     b.writeRole,
		Delete:    b.deleteRole,
	}
	return rt.Paths()
}

// roleName returns the route's role_name, refusing a spelling that is not
// canonical.
func roleName(d *framework.FieldData) (string, error) {
	return canonicalName(d.String("role_name"))
}

// writeRole creates the role, with a random role ID unless one is given,
// or changes the fields the request sets on it.
func (b *backend) writeRole(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error) {
	return b.changeRole(ctx, name, true, func(r *roleEntry, create bool) ([]string, error) {
		return r.apply(d, create, b.maxTTL())
	})
}

// deleteRole deletes the role, its role_id index and every secret ID it
// issued, in one transaction; deleting a missing role succeeds.
func (b *backend) deleteRole(ctx context.Context, name string) error {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return err
	}
	ops, err := b.secrets.deleteRoleOps(ctx, name)
	if err != nil {
		return err
	}
	ops = append(ops,
		logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: roleIDPrefix + b.secrets.mac(r.RoleID)}},
		logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: rolePrefix + name}},
	)
	return logical.ApplyTxn(ctx, b.storage, ops)
}

// updateRole applies change to an existing role under the write lock and
// stores it; a missing role is a 404 naming it.
func (b *backend) updateRole(ctx context.Context, d *framework.FieldData, change func(r *roleEntry) ([]string, error)) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	return b.changeRole(ctx, name, false, func(r *roleEntry, _ bool) ([]string, error) { return change(r) })
}

// changeRole applies change to the named role under the write lock and
// stores it with its role_id index, answering change's warnings. A
// missing role is a new one (create is true) when mayCreate says so, and a
// 404 naming it otherwise.
func (b *backend) changeRole(ctx context.Context, name string, mayCreate bool, change func(r *roleEntry, create bool) ([]string, error)) (*logical.Response, error) {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	create := r == nil
	if create {
		if !mayCreate {
			return nil, logical.CodedError(logical.ErrNotFound, "role %q does not exist", name)
		}
		r = &roleEntry{}
	}
	oldID := r.RoleID
	warnings, err := change(r, create)
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
