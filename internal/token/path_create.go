package token

import (
	"context"

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
		"explicit_max_ttl":  {Type: framework.TypeDurationSecond, Description: "Hard limit on the token's life."},
		"period":            {Type: framework.TypeDurationSecond, Description: "Make the token periodic (root or sudo only)."},
		"display_name":      {Type: framework.TypeString, Description: "Name shown as token-<name>."},
		"num_uses":          {Type: framework.TypeInt, Description: "Number of requests the token may make; 0 is unlimited."},
		"renewable":         {Type: framework.TypeBool, Default: true, Description: "Whether the token may be renewed."},
		"type":              {Type: framework.TypeString, Description: "Token type; only \"service\" is supported."},
		"entity_alias":      {Type: framework.TypeString, Description: "Not supported (Coffer has no identity store); must be empty."},
	}
}

func (s *Store) createPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "create",
			Fields:     createFields(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleCreate(false)},
			Help:       "Create a child token of the caller.",
		},
		{
			Pattern:    "create-orphan",
			Fields:     createFields(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleCreate(true)},
			Help:       "Create a token without a parent (sudo).",
		},
	}
}

// handleCreate serves create and, with orphan set, create-orphan, which the
// core only lets through with sudo.
func (s *Store) handleCreate(orphan bool) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if t := d.String("type"); t != "" && t != TypeService {
			return nil, logical.InvalidRequest("unsupported token type %q", t)
		}
		if d.String("entity_alias") != "" {
			return nil, logical.InvalidRequest("entity_alias is not supported: Coffer has no identity store")
		}
		parent, err := s.caller(ctx, req)
		if err != nil {
			return nil, err
		}
		renewable := d.Bool("renewable")
		id, e, err := s.Create(ctx, parent, CreateRequest{
			ID:              d.String("id"),
			Policies:        d.Strings("policies"),
			NoDefaultPolicy: d.Bool("no_default_policy"),
			Meta:            d.KVPairs("meta"),
			DisplayName:     displayName("token", d.String("display_name")),
			NumUses:         d.Int("num_uses"),
			TTL:             d.Duration("ttl"),
			ExplicitMaxTTL:  d.Duration("explicit_max_ttl"),
			Period:          d.Duration("period"),
			Renewable:       &renewable,
			NoParent:        orphan || d.Bool("no_parent"),
			Sudo:            orphan || req.Sudo,
			Path:            routePath(req),
		})
		if err != nil {
			return nil, err
		}
		return authResponse(id, e, e.TTL), nil
	}
}
