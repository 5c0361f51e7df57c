package kubernetes

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// rolePrefix is the storage folder of roles, keyed by lower-case name.
const rolePrefix = "role/"

// The values of alias_name_source.
const (
	aliasUID  = "serviceaccount_uid"
	aliasName = "serviceaccount_name"
)

// role is one stored role.
type role struct {
	ServiceAccountNames      []string `json:"bound_service_account_names"`
	ServiceAccountNamespaces []string `json:"bound_service_account_namespaces"`
	NamespaceSelector        string   `json:"bound_service_account_namespace_selector"`
	Audience                 string   `json:"audience"`
	AliasNameSource          string   `json:"alias_name_source"`
	tokenutil.Params

	// selector is NamespaceSelector parsed; nil when empty.
	selector *selector
}

// role returns the named role from the cache, filling it from storage on a
// miss, or nil when there is none. The role returned is shared: read it,
// never change it.
func (b *backend) role(ctx context.Context, name string) (*role, error) {
	b.cacheMu.RLock()
	r := b.roles[name]
	b.cacheMu.RUnlock()
	if r != nil {
		return r, nil
	}
	b.roleMu.RLock()
	defer b.roleMu.RUnlock()
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	b.cacheRole(name, r)
	return r, nil
}

// cacheRole remembers r (nil forgets the name).
func (b *backend) cacheRole(name string, r *role) {
	b.cacheMu.Lock()
	defer b.cacheMu.Unlock()
	if r == nil {
		delete(b.roles, name)
		return
	}
	b.roles[name] = r
}

// loadRole reads the named role from storage into a fresh value, or nil
// when there is none.
func (b *backend) loadRole(ctx context.Context, name string) (*role, error) {
	var r role
	found, err := logical.GetJSON(ctx, b.storage, rolePrefix+name, &r)
	if err != nil || !found {
		return nil, err
	}
	if r.AliasNameSource == "" {
		r.AliasNameSource = aliasUID
	}
	if r.NamespaceSelector != "" {
		if r.selector, err = parseSelector(r.NamespaceSelector); err != nil {
			return nil, fmt.Errorf("role %q: stored selector: %w", name, err)
		}
	}
	return &r, nil
}

// describe is the read view of r, in Vault's shape.
func (r *role) describe() map[string]any {
	m := map[string]any{
		"bound_service_account_names":              nonNil(r.ServiceAccountNames),
		"bound_service_account_namespaces":         nonNil(r.ServiceAccountNamespaces),
		"bound_service_account_namespace_selector": r.NamespaceSelector,
		"audience":          r.Audience,
		"alias_name_source": r.AliasNameSource,
	}
	r.Params.Describe(m)
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
