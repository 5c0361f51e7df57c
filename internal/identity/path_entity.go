package identity

import (
	"context"
	"slices"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func entityFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id":       {Type: framework.TypeString, Description: "ID of the entity; set, it updates that entity."},
		"name":     {Type: framework.TypeString, Description: "Name of the entity."},
		"metadata": {Type: framework.TypeKVPairs, Description: "Metadata of the entity (key=value pairs), for templated policies."},
		"policies": {Type: framework.TypeLowerStrings, Description: "Policies added to every token of the entity."},
		"disabled": {Type: framework.TypeBool, Description: "Refuse the entity's tokens (they are not revoked)."},
	}
}

// byNameFields are the fields of entity/name/<name>: the path alone names
// the entity, as in Vault, so that a policy on the path decides which
// entity changes (a body "id" chose another one before).
func byNameFields() map[string]*framework.FieldSchema {
	f := entityFields()
	delete(f, "id")
	return f
}

func (s *Store) entityPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "entity",
			Fields:     entityFields(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleEntityWrite(false)},
			Help:       "Create an entity, or update the one named by id or name.",
		},
		{
			Pattern:    "entity/id/?",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: s.handleEntityList(true)},
			Help:       "List entity IDs.",
		},
		{
			Pattern: "entity/id/" + framework.GenericNameRegex("id"),
			Fields:  entityFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleEntityRead(false),
				logical.UpdateOperation: s.handleEntityWrite(false),
				logical.DeleteOperation: s.handleEntityDelete(false),
			},
			Help: "Read, update or delete an entity by ID.",
		},
		{
			Pattern:    "entity/name/?",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: s.handleEntityList(false)},
			Help:       "List entity names.",
		},
		{
			Pattern: "entity/name/(?P<name>.+)",
			Fields:  byNameFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleEntityRead(true),
				logical.UpdateOperation: s.handleEntityWrite(true),
				logical.DeleteOperation: s.handleEntityDelete(true),
			},
			Help: "Create, read, update or delete an entity by name.",
		},
	}
}

// handleEntityWrite creates or updates an entity; Vault answers a create
// with the new entity's ID and name, and an update with 204. byName: the
// route names the entity by its path alone.
func (s *Store) handleEntityWrite(byName bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		u := EntityUpdate{Name: d.String("name")}
		if !byName {
			u.ID = d.String("id")
		}
		return s.writeEntity(ctx, u, d)
	}
}

func (s *Store) writeEntity(ctx context.Context, u EntityUpdate, d *framework.FieldData) (*logical.Response, error) {
	if v, ok := d.GetOk("metadata"); ok {
		m := v.(map[string]string)
		u.Metadata = &m
	}
	if v, ok := d.GetOk("policies"); ok {
		p := v.([]string)
		u.Policies = &p
	}
	if v, ok := d.GetOk("disabled"); ok {
		b := v.(bool)
		u.Disabled = &b
	}
	e, created, err := s.UpsertEntity(ctx, u)
	if err != nil || !created {
		return nil, err
	}
	var aliasIDs []string
	for _, a := range e.Aliases {
		aliasIDs = append(aliasIDs, a.ID)
	}
	return logical.DataResponse(map[string]any{"id": e.ID, "name": e.Name, "aliases": aliasIDs}), nil
}

// lookupEntity finds the entity a route names by ID or by name. A name
// must be written as the entity's is (see ErrNameCase).
func (s *Store) lookupEntity(d *framework.FieldData, byName bool) (*Entity, error) {
	if !byName {
		return s.Entity(d.String("id")), nil
	}
	name := d.String("name")
	e := s.EntityByName(name)
	if e != nil && e.Name != name {
		return nil, nameCaseError(e.Name)
	}
	return e, nil
}

func (s *Store) handleEntityRead(byName bool) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		e, err := s.lookupEntity(d, byName)
		if e == nil || err != nil {
			return nil, err
		}
		return logical.DataResponse(s.entityData(e)), nil
	}
}

func (s *Store) handleEntityDelete(byName bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		e, err := s.lookupEntity(d, byName)
		if e == nil || err != nil {
			return nil, err
		}
		return nil, s.DeleteEntity(ctx, e.ID)
	}
}

// handleEntityList lists IDs or names, with Vault's key_info keyed by
// entity ID in both cases.
func (s *Store) handleEntityList(byID bool) framework.OperationFunc {
	return func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
		all := s.all()
		keys := make([]string, 0, len(all))
		info := make(map[string]any, len(all))
		for _, e := range all {
			if byID {
				keys = append(keys, e.ID)
			} else {
				keys = append(keys, e.Name)
			}
			entry := map[string]any{"name": e.Name}
			if len(e.Aliases) > 0 {
				aliases := make([]any, 0, len(e.Aliases))
				for _, a := range e.Aliases {
					ad := map[string]any{"id": a.ID, "name": a.Name, "mount_accessor": a.MountAccessor}
					s.addMount(ad, a.MountAccessor)
					aliases = append(aliases, ad)
				}
				entry["aliases"] = aliases
			}
			info[e.ID] = entry
		}
		if !byID {
			slices.Sort(keys)
		}
		return listResponse(keys, info), nil
	}
}
