package kubernetes

import (
	"fmt"

	"github.com/cofferhq/coffer/internal/auth/roles"
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

// newRoleStore returns the store of the mount's roles in storage.
func newRoleStore(storage logical.Storage) *roles.Store[role] {
	return roles.NewStore(storage, rolePrefix, func(_ string, r *role) error {
		if r.AliasNameSource == "" {
			r.AliasNameSource = aliasUID
		}
		if r.NamespaceSelector == "" {
			return nil
		}
		var err error
		if r.selector, err = parseSelector(r.NamespaceSelector); err != nil {
			return fmt.Errorf("stored selector: %w", err)
		}
		return nil
	})
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
