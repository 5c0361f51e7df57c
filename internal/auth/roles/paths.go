package roles

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Routes declares an auth method's role routes; Paths builds them. Every
// function is required. The handlers check the name captured in the path
// with Name before calling Load, Write or Delete with it.
type Routes[R any] struct {
	// NameField is the path capture naming the role: "name", or approle's
	// "role_name". Fields must declare it.
	NameField string
	// Name returns the captured name as stored, or a 400-class error for a
	// spelling that is not canonical (CheckName, or the method's own rule).
	Name func(name string) (string, error)
	// Fields are the fields of role/<name>.
	Fields map[string]*framework.FieldSchema
	// Help describes role/<name>.
	Help string

	// List returns the names of the stored roles; none is not an error.
	List func(ctx context.Context) ([]string, error)
	// Load returns the named role as stored, or nil when there is none.
	Load func(ctx context.Context, name string) (*R, error)
	// Describe is the read view of a role.
	Describe func(r *R) map[string]any
	// Write creates the named role or changes the fields d sets on it.
	Write func(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error)
	// Delete deletes the named role; deleting a missing role succeeds.
	Delete func(ctx context.Context, name string) error
}

// Paths returns LIST role/ and role/<name> (read, create, update, delete,
// with an existence check so that a write to a new role is a create).
func (rt *Routes[R]) Paths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "role" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: rt.list},
			Help:       "List the roles.",
		},
		{
			Pattern: "role/" + framework.GenericNameRegex(rt.NameField),
			Fields:  rt.Fields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   rt.read,
				logical.CreateOperation: rt.write,
				logical.UpdateOperation: rt.write,
				logical.DeleteOperation: rt.delete,
			},
			ExistenceCheck: rt.exists,
			Help:           rt.Help,
		},
	}
}

// CheckName accepts a role name in a role path only when it is already
// lower case: rewriting "Dev" to "dev" after authorisation would let a
// caller reach a role the policy denies by respelling it. Logins, which
// are not authorised by the role's path, lower-case it instead.
func CheckName(name string) (string, error) {
	if l := strings.ToLower(name); l != name {
		return "", logical.InvalidRequest("role names are lower case in role paths: use %q", l)
	}
	return name, nil
}

func (rt *Routes[R]) name(d *framework.FieldData) (string, error) {
	return rt.Name(d.String(rt.NameField))
}

func (rt *Routes[R]) exists(ctx context.Context, _ *logical.Request, d *framework.FieldData) (bool, error) {
	name, err := rt.name(d)
	if err != nil {
		return false, err
	}
	r, err := rt.Load(ctx, name)
	return r != nil, err
}

// list answers (nil, nil), a 404 as in Vault, when there are none.
func (rt *Routes[R]) list(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := rt.List(ctx)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": names}), nil
}

// read answers (nil, nil), a 404, for a missing role.
func (rt *Routes[R]) read(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := rt.name(d)
	if err != nil {
		return nil, err
	}
	r, err := rt.Load(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return logical.DataResponse(rt.Describe(r)), nil
}

func (rt *Routes[R]) write(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := rt.name(d)
	if err != nil {
		return nil, err
	}
	return rt.Write(ctx, name, d)
}

func (rt *Routes[R]) delete(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := rt.name(d)
	if err != nil {
		return nil, err
	}
	return nil, rt.Delete(ctx, name)
}

// Paths returns the role routes (Routes.Paths) of the roles in s: the
// capture "name" names the role, CheckName checks it, and s lists, loads
// and deletes. fields must declare "name"; describe and write are as in
// Routes; help describes role/<name>.
func (s *Store[R]) Paths(fields map[string]*framework.FieldSchema, describe func(r *R) map[string]any,
	write func(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error), help string) []*framework.Path {
	rt := &Routes[R]{NameField: "name", Name: CheckName, Fields: fields, Help: help,
		List: s.List, Load: s.Load, Describe: describe, Write: write, Delete: s.Delete}
	return rt.Paths()
}
