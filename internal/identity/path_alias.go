package identity

import (
	"context"
	"unicode"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Vault's limits on an alias's custom metadata.
const (
	maxCustomMetadataKeys  = 64
	maxCustomMetadataKey   = 128
	maxCustomMetadataValue = 512
)

func aliasFields() map[string]*framework.FieldSchema {
	return map[string]*framework.FieldSchema{
		"id":             {Type: framework.TypeString, Description: "ID of the alias; set, it updates that alias."},
		"canonical_id":   {Type: framework.TypeString, Aliases: []string{"entity_id"}, Description: "ID of the entity the alias belongs to."},
		"mount_accessor": {Type: framework.TypeString, Description: "Accessor of the auth mount the alias belongs to."},
		"name":           {Type: framework.TypeString, Description: "Name of the alias: what the auth method calls the entity."},
		"custom_metadata": {Type: framework.TypeKVPairs,
			Description: "Operator-set key=value pairs, for templated policies (identity.entity.aliases.<accessor>.custom_metadata.<key>)."},
	}
}

func (s *Store) aliasPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "entity-alias",
			Fields:     aliasFields(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: s.handleAliasWrite},
			Help:       "Create an entity alias, or update the one with this mount accessor and name.",
		},
		{
			Pattern:    "entity-alias/id/?",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: s.handleAliasList},
			Help:       "List entity alias IDs.",
		},
		{
			Pattern: "entity-alias/id/" + framework.GenericNameRegex("id"),
			Fields:  aliasFields(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   s.handleAliasRead,
				logical.UpdateOperation: s.handleAliasWrite,
				logical.DeleteOperation: s.handleAliasDelete,
			},
			Help: "Read, update or delete an entity alias by ID.",
		},
	}
}

func (s *Store) handleAliasWrite(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	u := AliasUpdate{ID: d.String("id"), MountAccessor: d.String("mount_accessor"), Name: d.String("name"), CanonicalID: d.String("canonical_id")}
	if v, ok := d.GetOk("custom_metadata"); ok {
		m := v.(map[string]string)
		if err := checkCustomMetadata(m); err != nil {
			return nil, err
		}
		u.CustomMetadata = &m
	}
	a, e, err := s.UpsertAlias(ctx, u)
	if err != nil || a == nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"id": a.ID, "canonical_id": e.ID}), nil
}

func (s *Store) handleAliasRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	_, a := s.EntityByAlias(d.String("id"))
	if a == nil {
		return nil, nil
	}
	return logical.DataResponse(s.aliasData(a, true)), nil
}

func (s *Store) handleAliasDelete(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, s.DeleteAlias(ctx, d.String("id"))
}

func (s *Store) handleAliasList(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	var keys []string
	info := map[string]any{}
	for _, e := range s.all() {
		for _, a := range e.Aliases {
			keys = append(keys, a.ID)
			ad := map[string]any{"canonical_id": a.CanonicalID, "custom_metadata": a.CustomMetadata, "local": false,
				"mount_accessor": a.MountAccessor, "name": a.Name}
			s.addMount(ad, a.MountAccessor)
			info[a.ID] = ad
		}
	}
	return listResponse(keys, info), nil
}

// checkCustomMetadata applies Vault's limits: at most 64 pairs, keys up to
// 128 bytes and values up to 512, printable and keys non-empty.
func checkCustomMetadata(m map[string]string) error {
	if len(m) > maxCustomMetadataKeys {
		return logical.InvalidRequest("custom_metadata: at most %d pairs, got %d", maxCustomMetadataKeys, len(m))
	}
	for k, v := range m {
		switch {
		case k == "":
			return logical.InvalidRequest("custom_metadata: keys must not be empty")
		case len(k) > maxCustomMetadataKey:
			return logical.InvalidRequest("custom_metadata: key %.32q… is longer than %d bytes", k, maxCustomMetadataKey)
		case len(v) > maxCustomMetadataValue:
			return logical.InvalidRequest("custom_metadata: the value of %q is longer than %d bytes", k, maxCustomMetadataValue)
		case !printable(k) || !printable(v):
			return logical.InvalidRequest("custom_metadata: the pair %q contains a character that is not printable", k)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
