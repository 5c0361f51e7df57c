package system

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

var mountFields = map[string]*framework.FieldSchema{
	"path":                    {Type: framework.TypeString},
	"type":                    {Type: framework.TypeString},
	"description":             {Type: framework.TypeString},
	"config":                  {Type: framework.TypeMap},
	"options":                 {Type: framework.TypeKVPairs},
	"local":                   {Type: framework.TypeBool},
	"seal_wrap":               {Type: framework.TypeBool},
	"plugin_name":             {Type: framework.TypeString},
	"plugin_version":          {Type: framework.TypeString},
	"external_entropy_access": {Type: framework.TypeBool},
}

func (b *backend) mountPaths() []*framework.Path {
	var out []*framework.Path
	for _, t := range []Table{SecretsTable, AuthTable} {
		prefix := string(t)
		out = append(out,
			&framework.Path{
				Pattern:    prefix + framework.OptionalTrailingSlash,
				Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.listMounts(t)},
			},
			b.tunePath(t),
			&framework.Path{
				Pattern: prefix + "/" + framework.MatchAllRegex("path"),
				Fields:  mountFields,
				Operations: map[logical.Operation]framework.OperationFunc{
					logical.ReadOperation:   b.readMount(t),
					logical.UpdateOperation: b.enable(t),
					logical.DeleteOperation: b.disable(t),
				},
			})
	}
	return append(out, &framework.Path{
		Pattern:    "internal/ui/mounts/" + framework.MatchAllRegex("path"),
		Fields:     map[string]*framework.FieldSchema{"path": {Type: framework.TypeString}},
		Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.uiMount},
	}, &framework.Path{
		Pattern:    "internal/ui/mounts" + framework.OptionalTrailingSlash,
		Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.uiMounts},
	})
}

// optionsJSON renders a mount's options, null when it has none.
func optionsJSON(o map[string]string) any {
	if o == nil {
		return nil
	}
	return o
}

// mountJSON renders a mount the way sys/mounts lists it.
func mountJSON(m MountInfo) map[string]any {
	return map[string]any{
		"type": m.Type, "description": m.Description, "accessor": m.Accessor, "uuid": m.UUID,
		"config":  configJSON(m),
		"options": optionsJSON(m.Options), "local": m.Local, "seal_wrap": m.SealWrap, "external_entropy_access": false,
		"plugin_version": "", "running_plugin_version": "", "running_sha256": "", "deprecation_status": "supported",
	}
}

func (b *backend) listMounts(t Table) framework.OperationFunc {
	return func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
		data := map[string]any{}
		for _, m := range b.core.ListMounts(t) {
			data[m.Path] = mountJSON(m)
		}
		return logical.DataResponse(data), nil
	}
}

func (b *backend) readMount(t Table) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		m, ok := b.find(t, d.String("path"))
		if !ok {
			return nil, logical.InvalidRequest("no mount at %q", d.String("path"))
		}
		return logical.DataResponse(mountJSON(m)), nil
	}
}

func (b *backend) find(t Table, path string) (MountInfo, bool) {
	path = strings.Trim(path, "/") + "/"
	for _, m := range b.core.ListMounts(t) {
		if m.Path == path {
			return m, true
		}
	}
	return MountInfo{}, false
}

func (b *backend) enable(t Table) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		m := MountInfo{
			Path: d.String("path"), Type: d.String("type"), Description: d.String("description"),
			Options: d.KVPairs("options"), Local: d.Bool("local"), SealWrap: d.Bool("seal_wrap"),
		}
		if m.Type == "" {
			m.Type = d.String("plugin_name")
		}
		if m.Type == "" {
			return nil, logical.InvalidRequest("missing type: name the engine to mount, for example \"kv\"")
		}
		if cfg := d.Get("config").(map[string]any); cfg != nil {
			tn, err := tuneEdits(t, m.Path, func(name string) (any, bool) { v, ok := cfg[name]; return v, ok }, true)
			if err != nil {
				return nil, err
			}
			for _, edit := range tn.Edits {
				if err := edit(&m); err != nil {
					return nil, err
				}
			}
		}
		return nil, b.core.Enable(ctx, t, m)
	}
}

func (b *backend) disable(t Table) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		return nil, b.core.Disable(ctx, t, d.String("path"))
	}
}

// uiMount tells the Vault CLI which mount serves a path and its KV version.
func (b *backend) uiMount(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, ok := b.core.MountFor(d.String("path"))
	if !ok {
		return nil, logical.InvalidRequest("no mount found for path %q", d.String("path"))
	}
	// Like Vault, a token learns of a mount only if its policies grant it
	// something there.
	if visible, err := b.core.MountVisible(ctx, req.ClientToken, req.RemoteAddr, m.Path); err != nil {
		return nil, err
	} else if !visible {
		return nil, logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	}
	data := mountJSON(m)
	data["path"] = m.Path
	return logical.DataResponse(data), nil
}

// uiMounts lists the mounts a caller may know of, as Vault's UI endpoint
// does. Without a token it lists only the mounts tuned to
// listing_visibility "unauth", with their type, description and options;
// with a token, those and every mount the token's policies reach, in full.
func (b *backend) uiMounts(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	secret, auth := map[string]any{}, map[string]any{}
	for _, t := range []struct {
		table  Table
		prefix string
		out    map[string]any
	}{{SecretsTable, "", secret}, {AuthTable, "auth/", auth}} {
		for _, m := range b.core.ListMounts(t.table) {
			visible := m.ListingVisibility == ListingUnauth
			if !visible && req.ClientToken != "" {
				var err error
				if visible, err = b.core.MountVisible(ctx, req.ClientToken, req.RemoteAddr, t.prefix+m.Path); err != nil {
					return nil, err
				}
			}
			switch {
			case !visible:
			case req.ClientToken == "":
				t.out[m.Path] = map[string]any{"type": m.Type, "description": m.Description, "options": optionsJSON(m.Options)}
			default:
				t.out[m.Path] = mountJSON(m)
			}
		}
	}
	return logical.DataResponse(map[string]any{"secret": secret, "auth": auth}), nil
}
