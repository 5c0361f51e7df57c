package identity

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/policy"
)

// Entity is one identity: a person or a workload, however many auth
// methods it logs in through. Entities handed out by a Store are shared and
// immutable: every change publishes a new Entity, so callers may keep one
// but must never modify it.
type Entity struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Policies are added to the policies of every token of the entity, at
	// request time (so a change applies to tokens already issued).
	Policies []string `json:"policies,omitempty"`
	// Disabled refuses every token of the entity (they are not revoked).
	Disabled       bool      `json:"disabled,omitempty"`
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
	// Aliases has at most one alias per mount accessor.
	Aliases []*Alias `json:"aliases,omitempty"`

	// revision changes whenever the entity does (never persisted): the
	// ACL cache keys templated policies on it.
	revision uint64
}

// Alias is what one auth mount calls an entity.
type Alias struct {
	ID          string `json:"id"`
	CanonicalID string `json:"canonical_id"`
	// MountAccessor and Name identify the alias: unique together, the name
	// compared without regard to case, as Vault does.
	MountAccessor string `json:"mount_accessor"`
	Name          string `json:"name"`
	// Metadata is what the auth method reported at the last login
	// (logical.Alias.Metadata); only logins change it.
	Metadata map[string]string `json:"metadata,omitempty"`
	// CustomMetadata is set by operators through identity/entity-alias.
	CustomMetadata map[string]string `json:"custom_metadata,omitempty"`
	CreationTime   time.Time         `json:"creation_time"`
	LastUpdateTime time.Time         `json:"last_update_time"`
}

var _ policy.Identity = (*Entity)(nil)

// Revision identifies this version of the entity among all versions the
// Store has published since it was loaded: equal revisions of one entity
// ID mean equal contents.
func (e *Entity) Revision() uint64 { return e.revision }

// Alias returns the entity's alias on the mount with accessor, or nil.
func (e *Entity) Alias(accessor string) *Alias {
	for _, a := range e.Aliases {
		if a.MountAccessor == accessor {
			return a
		}
	}
	return nil
}

// TemplateValue implements policy.Identity with Vault's directives:
// identity.entity.id, .name, .metadata.<key>, and
// identity.entity.aliases.<mount accessor>.id, .name, .metadata.<key> and
// .custom_metadata.<key>. Unknown directives, missing keys and empty values
// report false (the policy package then drops the rule). Groups and time
// directives are not supported.
func (e *Entity) TemplateValue(directive string) (string, bool) {
	rest, ok := strings.CutPrefix(directive, "identity.entity.")
	if !ok || e == nil {
		return "", false
	}
	switch {
	case rest == "id":
		return nonEmpty(e.ID)
	case rest == "name":
		return nonEmpty(e.Name)
	}
	if key, ok := strings.CutPrefix(rest, "metadata."); ok {
		return nonEmpty(e.Metadata[key])
	}
	sel, ok := strings.CutPrefix(rest, "aliases.")
	if !ok {
		return "", false
	}
	accessor, field, ok := strings.Cut(sel, ".")
	if !ok {
		return "", false
	}
	a := e.Alias(accessor)
	if a == nil {
		return "", false
	}
	switch {
	case field == "id":
		return nonEmpty(a.ID)
	case field == "name":
		return nonEmpty(a.Name)
	}
	if key, ok := strings.CutPrefix(field, "metadata."); ok {
		return nonEmpty(a.Metadata[key])
	}
	if key, ok := strings.CutPrefix(field, "custom_metadata."); ok {
		return nonEmpty(a.CustomMetadata[key])
	}
	return "", false
}

func nonEmpty(v string) (string, bool) { return v, v != "" }

// clone returns a deep copy for a change; the copy has no revision yet.
func (e *Entity) clone() *Entity {
	c := *e
	c.revision = 0
	c.Metadata = maps.Clone(e.Metadata)
	c.Policies = slices.Clone(e.Policies)
	c.Aliases = make([]*Alias, len(e.Aliases))
	for i, a := range e.Aliases {
		c.Aliases[i] = a.clone()
	}
	return &c
}

func (a *Alias) clone() *Alias {
	c := *a
	c.Metadata = maps.Clone(a.Metadata)
	c.CustomMetadata = maps.Clone(a.CustomMetadata)
	return &c
}

// factorKey indexes an alias by its mount accessor and its name, the name
// compared without regard to case.
func factorKey(accessor, name string) string {
	return accessor + "\x00" + strings.ToLower(name)
}

// nameKey indexes an entity by its name, without regard to case.
func nameKey(name string) string { return strings.ToLower(name) }
