package userpass

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

func usernameField() *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: "Name of the user; case-insensitive."}
}

func (b *backend) userPaths() []*framework.Path {
	name := framework.GenericNameRegex("username")
	userFields := tokenutil.Fields()
	userFields["username"] = usernameField()
	userFields["password"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Password; required when the user is created."}
	policyOnly := policyFields()
	policyOnly["username"] = usernameField()
	return []*framework.Path{
		{
			Pattern:    "users" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listUsers},
			Help:       "List the users.",
		},
		{
			Pattern: "users/" + name,
			Fields:  userFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readUser,
				logical.CreateOperation: b.writeUser,
				logical.UpdateOperation: b.writeUser,
				logical.DeleteOperation: b.deleteUser,
			},
			ExistenceCheck: b.userExists,
			Help:           "Create, read, update or delete a user.",
		},
		{
			Pattern: "users/" + name + "/password",
			Fields: map[string]*framework.FieldSchema{
				"username": usernameField(),
				"password": {Type: framework.TypeString, Required: true, Description: "The new password."},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.writePassword},
			Help:       "Change a user's password.",
		},
		{
			Pattern:    "users/" + name + "/policies",
			Fields:     policyOnly,
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.writePolicies},
			Help:       "Change a user's policies.",
		},
	}
}

func (b *backend) userExists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	name, err := canonicalName(d.String("username"))
	if err != nil {
		return false, err
	}
	u, err := b.loadUser(ctx, name)
	return u != nil, err
}

// listUsers answers (nil, nil), a 404 as in Vault, when there are no users.
func (b *backend) listUsers(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := b.storage.List(ctx, userPrefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}

func (b *backend) readUser(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := canonicalName(d.String("username"))
	if err != nil {
		return nil, err
	}
	u, err := b.loadUser(ctx, name)
	if err != nil || u == nil {
		return nil, err
	}
	return logical.DataResponse(u.describe()), nil
}

// writeUser creates a user, which needs a password, or changes the fields
// the request sets on an existing one.
func (b *backend) writeUser(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := canonicalName(d.String("username"))
	if err != nil {
		return nil, err
	}
	var hash string
	if pw, ok := d.GetOk("password"); ok {
		var err error
		if hash, err = b.hashPassword(pw.(string)); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.loadUser(ctx, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		if hash == "" {
			return nil, logical.InvalidRequest("missing password: a new user needs one")
		}
		u = &userEntry{}
	}
	if hash != "" {
		u.PasswordHash = hash
	}
	if err := u.Params.Parse(d); err != nil {
		return nil, err
	}
	return nil, b.saveUser(ctx, name, u)
}

func (b *backend) deleteUser(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	name, err := canonicalName(d.String("username"))
	if err != nil {
		return nil, err
	}
	return nil, b.storage.Delete(ctx, userPrefix+name)
}

func (b *backend) writePassword(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	hash, err := b.hashPassword(d.String("password"))
	if err != nil {
		return nil, err
	}
	return nil, b.updateUser(ctx, d, func(u *userEntry) error {
		u.PasswordHash = hash
		return nil
	})
}

func (b *backend) writePolicies(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if _, ok := d.GetOk("token_policies"); !ok {
		return nil, logical.InvalidRequest(`missing "token_policies": give the new list, which may be empty`)
	}
	return nil, b.updateUser(ctx, d, func(u *userEntry) error { return u.Params.Parse(d) })
}

// updateUser applies change to an existing user and stores the result; a
// missing user is a 400-class error.
func (b *backend) updateUser(ctx context.Context, d *framework.FieldData, change func(*userEntry) error) error {
	name, err := canonicalName(d.String("username"))
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.loadUser(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return logical.InvalidRequest("user %q does not exist", name)
	}
	if err := change(u); err != nil {
		return err
	}
	return b.saveUser(ctx, name, u)
}
