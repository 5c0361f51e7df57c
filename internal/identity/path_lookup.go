package identity

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) lookupPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "lookup/entity",
		Fields: map[string]*framework.FieldSchema{
			"id":                   {Type: framework.TypeString, Description: "ID of the entity."},
			"name":                 {Type: framework.TypeString, Description: "Name of the entity."},
			"alias_id":             {Type: framework.TypeString, Description: "ID of one of the entity's aliases."},
			"alias_name":           {Type: framework.TypeString, Description: "Name of an alias, with alias_mount_accessor."},
			"alias_mount_accessor": {Type: framework.TypeString, Description: "Mount accessor of an alias, with alias_name."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleLookupEntity},
		Help:       "Find an entity by ID, name, alias ID, or alias name and mount accessor.",
	}}
}

// handleLookupEntity takes exactly one criterion (alias_name and
// alias_mount_accessor count as one, together), as Vault does, and answers
// with the entity or a 404.
func (s *Store) handleLookupEntity(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	set := map[string]string{}
	for _, k := range []string{"id", "name", "alias_id", "alias_name", "alias_mount_accessor"} {
		if v, ok := d.GetOk(k); ok {
			set[k] = v.(string)
		}
	}
	pair := set["alias_name"] != "" && set["alias_mount_accessor"] != ""
	switch {
	case len(set) == 0:
		return nil, ErrLookupNoQuery
	case len(set) == 2 && pair:
	case len(set) > 1:
		return nil, ErrLookupConflict
	case set["alias_name"] != "" || set["alias_mount_accessor"] != "":
		return nil, ErrLookupAliasPair
	}
	var e *Entity
	switch {
	case set["id"] != "":
		e = s.Entity(set["id"])
	case set["name"] != "":
		e = s.EntityByName(set["name"])
	case set["alias_id"] != "":
		e, _ = s.EntityByAlias(set["alias_id"])
	case pair:
		e, _ = s.EntityByFactors(set["alias_mount_accessor"], set["alias_name"])
	}
	if e == nil {
		return nil, nil
	}
	return logical.DataResponse(s.entityData(e)), nil
}
