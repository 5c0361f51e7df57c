// Package identity is Coffer's identity store, served at identity/ as in
// Vault: entities (a person or a workload, with a name, metadata, policies
// and a disabled flag) and their aliases (what one auth mount calls that
// entity: its mount accessor plus a name, with metadata the auth method
// reported at login and custom metadata an operator set).
//
// It is for: finding or creating the entity behind a login (Store.Login),
// so that the token the core then issues carries the entity's ID; answering
// which entity a token belongs to at request time (Store.Entity), from
// memory; the identity/entity, identity/entity-alias and
// identity/lookup/entity routes (Store.Backend); and the values templated
// ACL policies refer to (Entity.TemplateValue implements policy.Identity).
//
// Everything is kept in memory and written through to the store's own
// barrier view, one storage entry per entity with its aliases inside, so
// an alias and its entity always change together.
//
// It is not for: groups, entity merging, MFA secrets or OIDC tokens (Vault
// has them; Coffer does not yet), nor for deciding what a token may do:
// the core adds an entity's policies to its token's and resolves templated
// policies with the entity; the policy package does the rest.
package identity
