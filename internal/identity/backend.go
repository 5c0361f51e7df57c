package identity

import (
	"maps"
	"slices"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// namespaceID is what Vault reports for entities of its root namespace,
// the only one Coffer has.
const namespaceID = "root"

// Backend returns the identity/ routes backed by s: identity/entity,
// identity/entity-alias and identity/lookup/entity, with Vault's fields and
// shapes. The core has already authorised every request.
func (s *Store) Backend() logical.Backend {
	return &framework.Backend{Paths: slices.Concat(s.entityPaths(), s.aliasPaths(), s.lookupPaths())}
}

// entityData is Vault's description of an entity.
func (s *Store) entityData(e *Entity) map[string]any {
	aliases := make([]any, 0, len(e.Aliases))
	for _, a := range e.Aliases {
		aliases = append(aliases, s.aliasData(a, false))
	}
	policies := slices.Clone(e.Policies)
	if policies == nil {
		policies = []string{}
	}
	return map[string]any{
		"id": e.ID, "name": e.Name, "metadata": nilIfEmpty(e.Metadata), "policies": policies,
		"disabled": e.Disabled, "namespace_id": namespaceID, "merged_entity_ids": nil, "aliases": aliases,
		"creation_time": timestamp(e.CreationTime), "last_update_time": timestamp(e.LastUpdateTime),
		"direct_group_ids": []string{}, "inherited_group_ids": []string{}, "group_ids": []string{},
	}
}

// aliasData is Vault's description of an alias; withNamespace adds the
// fields a read of the alias itself has.
func (s *Store) aliasData(a *Alias, withNamespace bool) map[string]any {
	custom := maps.Clone(a.CustomMetadata)
	if custom == nil {
		custom = map[string]string{}
	}
	d := map[string]any{
		"id": a.ID, "canonical_id": a.CanonicalID, "mount_accessor": a.MountAccessor, "name": a.Name,
		"metadata": nilIfEmpty(a.Metadata), "custom_metadata": custom, "merged_from_canonical_ids": nil,
		"local": false, "creation_time": timestamp(a.CreationTime), "last_update_time": timestamp(a.LastUpdateTime),
	}
	s.addMount(d, a.MountAccessor)
	if withNamespace {
		d["namespace_id"] = namespaceID
	}
	return d
}

// addMount adds mount_path and mount_type when the alias's mount exists.
func (s *Store) addMount(d map[string]any, accessor string) {
	if s.mounts == nil {
		return
	}
	if path, typ, ok := s.mounts.AuthMountByAccessor(accessor); ok {
		d["mount_path"], d["mount_type"] = path, typ
	}
}

func nilIfEmpty(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// timestamp is Vault's RFC 3339 form of an entity's times.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// listResponse is a LIST answer with key_info; nil (a 404) when empty.
func listResponse(keys []string, info map[string]any) *logical.Response {
	if len(keys) == 0 {
		return nil
	}
	return logical.DataResponse(map[string]any{"keys": keys, "key_info": info})
}
