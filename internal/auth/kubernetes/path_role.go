package kubernetes

import (
	"context"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

func roleFields() map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeString, Description: "Name of the role (lower case)."},
		"bound_service_account_names": {Type: framework.TypeStringSlice,
			Description: `Service account names allowed to log in; globs ("app-*"), or "*" for any. Required.`},
		"bound_service_account_namespaces": {Type: framework.TypeStringSlice,
			Description: `Namespaces allowed to log in; globs, or "*" for any. This or the selector is required.`},
		"bound_service_account_namespace_selector": {Type: framework.TypeString,
			Description: `A label selector in JSON ({"matchLabels":{"team":"a"}}) that a namespace's labels must satisfy, read through the Kubernetes API (the reviewer needs "get" on namespaces).`},
		"audience": {Type: framework.TypeString,
			Description: "The audience tokens must carry; the API server's own when empty."},
		"alias_name_source": {Type: framework.TypeString, Default: aliasUID,
			Description: `What names the identity alias: "serviceaccount_uid" (default) or "serviceaccount_name" (namespace/name).`},
	}
	tokenutil.AddFields(f)
	return f
}

func (b *backend) rolePaths() []*framework.Path {
	return b.roles.Paths(roleFields(), (*role).describe, b.writeRole,
		"Create, read, update or delete a role: which service accounts may log in, and the token they get.")
}

// writeRole creates a role or changes the fields the request sets on an
// existing one, then checks the whole role. Nothing is stored when a check
// fails.
func (b *backend) writeRole(ctx context.Context, name string, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.roles.Write(ctx, name, func(r *role) error { return r.apply(d) })
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{}
	if r.Audience == "" {
		resp.AddWarning("This role does not have an audience configured. Set one (and request tokens for it) so that tokens meant for other services are not accepted.")
	}
	if maxTTL := b.system.MaxLeaseTTL(); maxTTL > 0 && r.MaxTTL > maxTTL {
		resp.AddWarning("token max ttl is greater than the system or backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
	}
	if len(resp.Warnings) == 0 {
		return nil, nil
	}
	return resp, nil
}

// apply copies the fields the request set onto r and checks the result,
// with Vault's messages where it has them.
func (r *role) apply(d *framework.FieldData) error {
	clean := func(v []string) []string {
		return slices.DeleteFunc(slices.Clone(v), func(s string) bool { return strings.TrimSpace(s) == "" })
	}
	if _, ok := d.GetOk("bound_service_account_names"); ok {
		r.ServiceAccountNames = clean(d.Strings("bound_service_account_names"))
	}
	if _, ok := d.GetOk("bound_service_account_namespaces"); ok {
		r.ServiceAccountNamespaces = clean(d.Strings("bound_service_account_namespaces"))
	}
	if v, ok := d.GetOk("bound_service_account_namespace_selector"); ok {
		r.NamespaceSelector = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("audience"); ok {
		r.Audience = strings.TrimSpace(v.(string))
	}
	if v, ok := d.GetOk("alias_name_source"); ok {
		r.AliasNameSource = v.(string)
	}
	if err := r.Params.Parse(d); err != nil {
		return err
	}
	return r.validate()
}

func (r *role) validate() error {
	switch {
	case len(r.ServiceAccountNames) == 0:
		return logical.InvalidRequest(`"bound_service_account_names" can not be empty`)
	case len(r.ServiceAccountNamespaces) == 0 && r.NamespaceSelector == "":
		return logical.InvalidRequest(`"bound_service_account_namespaces" can not be empty if "bound_service_account_namespace_selector" is not set`)
	case len(r.ServiceAccountNames) > 1 && slices.Contains(r.ServiceAccountNames, "*"):
		return logical.InvalidRequest(`can not mix "*" with values in "bound_service_account_names"`)
	case len(r.ServiceAccountNamespaces) > 1 && slices.Contains(r.ServiceAccountNamespaces, "*"):
		return logical.InvalidRequest(`can not mix "*" with values in "bound_service_account_namespaces"`)
	case r.AliasNameSource != aliasUID && r.AliasNameSource != aliasName:
		return logical.InvalidRequest("invalid alias_name_source %q: use %s or %s", r.AliasNameSource, aliasUID, aliasName)
	}
	r.selector = nil
	if r.NamespaceSelector != "" {
		s, err := parseSelector(r.NamespaceSelector)
		if err != nil {
			return logical.InvalidRequest("invalid bound_service_account_namespace_selector: %v", err)
		}
		r.selector = s
	}
	return nil
}
