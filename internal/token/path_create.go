package token

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func createFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id":                {Type: framework.TypeString, Description: "Token ID to use instead of a random one (root only)."},
		"policies":          {Type: framework.TypeLowerStrings, Description: "Policies of the token; defaults to the caller's."},
		"meta":              {Type: framework.TypeKVPairs, Description: "Metadata echoed in audit logs and lookups."},
		"no_parent":         {Type: framework.TypeBool, Description: "Create an orphan (root or sudo only)."},
		"no_default_policy": {Type: framework.TypeBool, Description: "Do not attach the default policy."},
		"ttl":               {Type: framework.TypeDurationSecond, Description: "Initial TTL; defaults to the mount's."},
		"lease":             {Type: framework.TypeDurationSecond, Description: "Deprecated name of ttl, used when ttl is not set."},
		"explicit_max_ttl":  {Type: framework.TypeDurationSecond, Description: "Hard limit on the token's life."},
		"period":            {Type: framework.TypeDurationSecond, Description: "Make the token periodic (root or sudo only)."},
		"display_name":      {Type: framework.TypeString, Description: "Name shown as token-<name>."},
		"num_uses":          {Type: framework.TypeInt, Description: "Number of requests the token may make; 0 is unlimited."},
		"renewable":         {Type: framework.TypeBool, Default: true, Description: "Whether the token may be renewed."},
		"type":              {Type: framework.TypeString, Description: "Token type: \"service\" or \"batch\"; defaults to the role's, or service."},
		"entity_alias":      {Type: framework.TypeString, Description: "Not supported yet (tokens get entities from logins and inherit them); must be empty."},
	}
}

func (s *Store) createPaths() []*framework.Path {
	withRole := createFields()
	withRole["role_name"] = &framework.FieldSchema{Type: framework.TypeString, Description: "Name of the token role."}
	update := func(fn framework.OperationFunc) map[logical.Operation]framework.OperationFunc {
		return map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: fn}
	}
	return []*framework.Path{
		{Pattern: "create", Fields: createFields(), Operations: update(s.handleCreate(false)), Help: "Create a child token of the caller."},
		{Pattern: "create-orphan", Fields: createFields(), Operations: update(s.handleCreate(true)), Help: "Create a token without a parent (sudo)."},
		{
			Pattern:    "create/" + framework.GenericNameRegex("role_name"),
			Fields:     withRole,
			Operations: update(s.handleCreateWithRole),
			Help:       "Create a token against a token role.",
		},
	}
}

// createRequest reads the create fields shared by every create route.
func createRequest(req *logical.Request, d *framework.FieldData) (CreateRequest, error) {
	if d.String("entity_alias") != "" {
		return CreateRequest{}, logical.InvalidRequest("entity_alias is not supported yet: tokens get their entity from a login or from their parent")
	}
	ttl, ok := d.GetOk("ttl")
	if !ok {
		ttl = d.Get("lease")
	}
	renewable := d.Bool("renewable")
	return CreateRequest{
		ID:              d.String("id"),
		Policies:        d.Strings("policies"),
		NoDefaultPolicy: d.Bool("no_default_policy"),
		Meta:            d.KVPairs("meta"),
		DisplayName:     displayName("token", d.String("display_name")),
		NumUses:         d.Int("num_uses"),
		TTL:             ttl.(time.Duration),
		ExplicitMaxTTL:  d.Duration("explicit_max_ttl"),
		Period:          d.Duration("period"),
		Renewable:       &renewable,
		Sudo:            req.Sudo,
		Path:            routePath(req),
		Type:            d.String("type"),
	}, nil
}

// handleCreate serves create and, with orphan set, create-orphan, which the
// core only lets through with sudo.
func (s *Store) handleCreate(orphan bool) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		cr, err := createRequest(req, d)
		if err != nil {
			return nil, err
		}
		parent, err := s.caller(ctx, req)
		if err != nil {
			return nil, err
		}
		cr.NoParent = orphan || d.Bool("no_parent")
		cr.Sudo = cr.Sudo || orphan
		id, e, warnings, err := s.CreateWithRole(ctx, parent, cr, nil)
		if err != nil {
			return nil, err
		}
		resp := authResponse(id, e, e.TTL)
		resp.Warnings = append(resp.Warnings, warnings...)
		return resp, nil
	}
}

// handleCreateWithRole serves create/<role>. The role decides whether the
// token is an orphan, so no_parent is ignored, as in Vault.
func (s *Store) handleCreateWithRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	cr, err := createRequest(req, d)
	if err != nil {
		return nil, err
	}
	name := d.String("role_name")
	role, err := s.Role(ctx, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, logical.InvalidRequest("unknown role %s", name)
	}
	parent, err := s.caller(ctx, req)
	if err != nil {
		return nil, err
	}
	if role.PathSuffix != "" {
		cr.Path += "/" + role.PathSuffix
	}
	id, e, warnings, err := s.CreateWithRole(ctx, parent, cr, role)
	if err != nil {
		return nil, err
	}
	resp := authResponse(id, e, e.TTL)
	resp.Warnings = warnings
	return resp, nil
}
