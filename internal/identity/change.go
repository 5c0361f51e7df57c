package identity

import (
	"context"
	"maps"
	"slices"

	"github.com/cofferhq/coffer/internal/logical"
)

// EntityUpdate is a write to identity/entity: which entity (by ID, or by
// name when no ID is given) and the fields the request set (nil pointers
// are left as they are).
type EntityUpdate struct {
	ID       string
	Name     string
	Metadata *map[string]string
	Policies *[]string
	Disabled *bool
}

// UpsertEntity applies u as Vault's identity/entity does: with an ID, that
// entity is updated (ErrEntityNotFound when it does not exist); else the
// entity called u.Name is updated if there is one; else a new entity is
// created (named entity_<8 hex> without a name). Renaming onto another
// entity's name is ErrNameInUse; the root policy is ErrRootPolicy. It
// returns the entity as stored and whether it is new.
func (s *Store) UpsertEntity(ctx context.Context, u EntityUpdate) (*Entity, bool, error) {
	if u.Policies != nil && slices.Contains(*u.Policies, "root") {
		return nil, false, ErrRootPolicy
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var cur *Entity
	if u.ID != "" {
		if cur = s.entities[u.ID]; cur == nil {
			return nil, false, ErrEntityNotFound
		}
	}
	if u.Name != "" {
		switch byName := s.entities[s.names[nameKey(u.Name)]]; {
		case byName == nil:
		case cur == nil && byName.Name != u.Name:
			return nil, false, nameCaseError(byName.Name)
		case cur == nil:
			cur = byName
		case cur.ID != byName.ID:
			return nil, false, ErrNameInUse
		}
	}
	var next *Entity
	if cur == nil {
		next = s.newEntity(u.Name)
	} else {
		next = cur.clone()
		next.LastUpdateTime = s.now().UTC()
		if u.Name != "" {
			next.Name = u.Name
		}
	}
	if u.Metadata != nil {
		next.Metadata = maps.Clone(*u.Metadata)
	}
	if u.Policies != nil {
		p := slices.Clone(*u.Policies)
		slices.Sort(p)
		next.Policies = slices.Compact(p)
	}
	if u.Disabled != nil {
		next.Disabled = *u.Disabled
	}
	if err := s.commit(ctx, []*Entity{next}, nil); err != nil {
		return nil, false, err
	}
	return next, cur == nil, nil
}

// DeleteEntity deletes the entity with id and its aliases; deleting one
// that does not exist does nothing. Tokens of a deleted entity stop
// working (the core refuses a token whose entity is gone).
func (s *Store) DeleteEntity(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.entities[id] == nil {
		return nil
	}
	return s.commit(ctx, nil, []string{id})
}

// AliasUpdate is a write to identity/entity-alias. ID names an alias to
// update; otherwise MountAccessor and Name name the alias to create or
// update. CanonicalID moves the alias to (or creates it on) that entity.
type AliasUpdate struct {
	ID             string
	MountAccessor  string
	Name           string
	CanonicalID    string
	CustomMetadata *map[string]string
}

// UpsertAlias applies u as Vault's identity/entity-alias does and returns
// the alias and its entity as stored; both nil when an update changed
// nothing. Creating an alias without a canonical ID creates its entity.
func (s *Store) UpsertAlias(ctx context.Context, u AliasUpdate) (*Alias, *Entity, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if u.ID != "" {
		owner, a := s.byAliasLocked(u.ID)
		if a == nil {
			return nil, nil, ErrInvalidAliasID
		}
		return s.updateAlias(ctx, owner, a, u)
	}
	if u.MountAccessor == "" || u.Name == "" {
		return nil, nil, ErrAliasFactorsNeeded
	}
	if err := s.checkAccessor(u.MountAccessor); err != nil {
		return nil, nil, err
	}
	if owner, a := s.byAliasLocked(s.factors[factorKey(u.MountAccessor, u.Name)]); a != nil {
		return s.updateAlias(ctx, owner, a, u)
	}
	var next *Entity
	if u.CanonicalID != "" {
		cur := s.entities[u.CanonicalID]
		if cur == nil {
			return nil, nil, ErrInvalidCanonicalID
		}
		if cur.Alias(u.MountAccessor) != nil {
			return nil, nil, ErrAliasExists
		}
		next = cur.clone()
		next.LastUpdateTime = s.now().UTC()
	} else {
		next = s.newEntity("")
	}
	a := s.newAlias(next, u.MountAccessor, u.Name)
	if u.CustomMetadata != nil {
		a.CustomMetadata = maps.Clone(*u.CustomMetadata)
	}
	next.Aliases = append(next.Aliases, a)
	if err := s.commit(ctx, []*Entity{next}, nil); err != nil {
		return nil, nil, err
	}
	return a, next, nil
}

// updateAlias changes alias a of owner as u asks: its name and mount
// within the rule of one alias per mount and entity, its custom metadata,
// and its entity. The caller holds wmu.
func (s *Store) updateAlias(ctx context.Context, owner *Entity, a *Alias, u AliasUpdate) (*Alias, *Entity, error) {
	name, accessor, custom := a.Name, a.MountAccessor, a.CustomMetadata
	if u.Name != "" {
		name = u.Name
	}
	if u.MountAccessor != "" {
		accessor = u.MountAccessor
	}
	if u.CustomMetadata != nil {
		custom = *u.CustomMetadata
	}
	moving := u.CanonicalID != "" && u.CanonicalID != owner.ID
	if name == a.Name && accessor == a.MountAccessor && !moving && maps.Equal(custom, a.CustomMetadata) {
		return nil, nil, nil
	}
	if accessor != a.MountAccessor || name != a.Name {
		if err := s.checkAccessor(accessor); err != nil {
			return nil, nil, err
		}
		if other := s.factors[factorKey(accessor, name)]; other != "" && other != a.ID {
			return nil, nil, ErrAliasFactorsTaken
		}
	}
	target := owner
	if moving {
		if target = s.entities[u.CanonicalID]; target == nil {
			return nil, nil, logical.InvalidRequest("given 'canonical_id' is not associated with an entity")
		}
	}
	for _, other := range target.Aliases {
		if other.ID != a.ID && other.MountAccessor == accessor {
			return nil, nil, logical.InvalidRequest("Alias cannot be updated as the entity already has an alias for the given 'mount_accessor'")
		}
	}
	na := a.clone()
	na.Name, na.MountAccessor, na.CustomMetadata = name, accessor, maps.Clone(custom)
	na.CanonicalID, na.LastUpdateTime = target.ID, s.now().UTC()
	from := owner.clone()
	from.Aliases = slices.DeleteFunc(from.Aliases, func(x *Alias) bool { return x.ID == a.ID })
	puts := []*Entity{from}
	to := from
	if moving {
		from.LastUpdateTime = na.LastUpdateTime
		to = target.clone()
		puts = append(puts, to)
	}
	to.Aliases = append(to.Aliases, na)
	to.LastUpdateTime = na.LastUpdateTime
	if err := s.commit(ctx, puts, nil); err != nil {
		return nil, nil, err
	}
	return na, to, nil
}

// DeleteAlias deletes the alias with id from its entity (the entity
// stays); deleting one that does not exist does nothing.
func (s *Store) DeleteAlias(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	owner, a := s.byAliasLocked(id)
	if a == nil {
		return nil
	}
	next := owner.clone()
	next.Aliases = slices.DeleteFunc(next.Aliases, func(x *Alias) bool { return x.ID == id })
	next.LastUpdateTime = s.now().UTC()
	return s.commit(ctx, []*Entity{next}, nil)
}

// checkAccessor refuses a mount accessor that names no auth mount.
func (s *Store) checkAccessor(accessor string) error {
	if s.mounts == nil {
		return nil
	}
	if _, _, ok := s.mounts.AuthMountByAccessor(accessor); !ok {
		return logical.InvalidRequest("invalid mount accessor %q", accessor)
	}
	return nil
}
