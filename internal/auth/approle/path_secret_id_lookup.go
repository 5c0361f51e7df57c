package approle

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) secretIDLookupPaths() []*framework.Path {
	name := framework.GenericNameRegex("role_name")
	bySecret := map[string]*framework.FieldSchema{
		"role_name": roleNameField(),
		"secret_id": {Type: framework.TypeString, Description: "The secret ID."},
	}
	byAccessor := map[string]*framework.FieldSchema{
		"role_name":          roleNameField(),
		"secret_id_accessor": {Type: framework.TypeString, Description: "The accessor of the secret ID."},
	}
	return []*framework.Path{
		{
			Pattern:    "role/" + name + "/secret-id/lookup" + framework.OptionalTrailingSlash,
			Fields:     bySecret,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.lookupSecretID},
			Help:       "Read the properties of a secret ID.",
		},
		{
			Pattern: "role/" + name + "/secret-id/destroy" + framework.OptionalTrailingSlash,
			Fields:  bySecret,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.destroySecretID,
				logical.DeleteOperation: b.destroySecretID,
			},
			Help: "Destroy a secret ID.",
		},
		{
			Pattern:    "role/" + name + "/secret-id-accessor/lookup" + framework.OptionalTrailingSlash,
			Fields:     byAccessor,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.lookupAccessor},
			Help:       "Read the properties of a secret ID by its accessor.",
		},
		{
			Pattern: "role/" + name + "/secret-id-accessor/destroy" + framework.OptionalTrailingSlash,
			Fields:  byAccessor,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.destroyAccessor,
				logical.DeleteOperation: b.destroyAccessor,
			},
			Help: "Destroy a secret ID by its accessor.",
		},
	}
}

// existingRole returns the route's role name when the role exists, and a
// 404 naming it when it does not.
func (b *backend) existingRole(ctx context.Context, d *framework.FieldData) (string, error) {
	name, err := roleName(d)
	if err != nil {
		return "", err
	}
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return "", err
	}
	if r == nil {
		return "", logical.CodedError(logical.ErrNotFound, "role %q does not exist", name)
	}
	return name, nil
}

// secretIDArg is the request's secret_id, or a 400 when it is missing.
func secretIDArg(d *framework.FieldData) (string, error) {
	s := d.String("secret_id")
	if s == "" {
		return "", logical.InvalidRequest("missing secret_id")
	}
	return s, nil
}

func accessorArg(d *framework.FieldData) (string, error) {
	s := d.String("secret_id_accessor")
	if s == "" {
		return "", logical.InvalidRequest("missing secret_id_accessor")
	}
	return s, nil
}

// lookupSecretID answers (nil, nil), a 404, for a secret ID the role does
// not have.
func (b *backend) lookupSecretID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	secretID, err := secretIDArg(d)
	if err != nil {
		return nil, err
	}
	name, err := b.existingRole(ctx, d)
	if err != nil || len(secretID) > maxInputLength {
		return nil, err
	}
	e, err := b.secrets.lookup(ctx, name, secretID)
	if err != nil || e == nil {
		return nil, err
	}
	return logical.DataResponse(e.describe()), nil
}

// destroySecretID succeeds whether or not the role had the secret ID.
func (b *backend) destroySecretID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	secretID, err := secretIDArg(d)
	if err != nil {
		return nil, err
	}
	name, err := b.existingRole(ctx, d)
	if err != nil || len(secretID) > maxInputLength {
		return nil, err
	}
	_, err = b.secrets.destroy(ctx, name, secretID)
	return nil, err
}

func (b *backend) lookupAccessor(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	accessor, err := accessorArg(d)
	if err != nil {
		return nil, err
	}
	name, err := b.existingRole(ctx, d)
	if err != nil {
		return nil, err
	}
	e, err := b.secrets.lookupAccessor(ctx, name, accessor)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, logical.CodedError(logical.ErrNotFound, "failed to find accessor entry for secret_id_accessor: %q", accessor)
	}
	return logical.DataResponse(e.describe()), nil
}

func (b *backend) destroyAccessor(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	accessor, err := accessorArg(d)
	if err != nil {
		return nil, err
	}
	name, err := b.existingRole(ctx, d)
	if err != nil {
		return nil, err
	}
	found, err := b.secrets.destroyAccessor(ctx, name, accessor)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, logical.CodedError(logical.ErrNotFound, "failed to find accessor entry for secret_id_accessor: %q", accessor)
	}
	return nil, nil
}
