package system

import (
	"context"
	"strings"
	"time"

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

var tuneFields = map[string]*framework.FieldSchema{
	"path":              {Type: framework.TypeString},
	"default_lease_ttl": {Type: framework.TypeDurationSecond},
	"max_lease_ttl":     {Type: framework.TypeDurationSecond},
	"description":       {Type: framework.TypeString},
	"options":           {Type: framework.TypeKVPairs},
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
			&framework.Path{
				Pattern: prefix + "/" + framework.MatchAllRegex("path") + "/tune",
				Fields:  tuneFields,
				Operations: map[logical.Operation]framework.OperationFunc{
					logical.ReadOperation:   b.readTune(t),
					logical.UpdateOperation: b.tune(t),
				},
			},
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

// mountJSON renders a mount the way sys/mounts lists it.
func mountJSON(m MountInfo) map[string]any {
	opts := any(nil)
	if m.Options != nil {
		opts = m.Options
	}
	return map[string]any{
		"type": m.Type, "description": m.Description, "accessor": m.Accessor, "uuid": m.UUID,
		"config": map[string]any{
			"default_lease_ttl": seconds(m.DefaultLeaseTTL), "max_lease_ttl": seconds(m.MaxLeaseTTL),
			"force_no_cache": false,
		},
		"options": opts, "local": m.Local, "seal_wrap": m.SealWrap, "external_entropy_access": false,
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
			var err error
			if m.DefaultLeaseTTL, err = configDuration(cfg, "default_lease_ttl"); err != nil {
				return nil, err
			}
			if m.MaxLeaseTTL, err = configDuration(cfg, "max_lease_ttl"); err != nil {
				return nil, err
			}
		}
		return nil, b.core.Enable(ctx, t, m)
	}
}

func configDuration(cfg map[string]any, key string) (time.Duration, error) {
	v, ok := cfg[key]
	if !ok {
		return 0, nil
	}
	d, err := framework.ParseDuration(v)
	if err != nil {
		return 0, logical.InvalidRequest("config.%s: %v", key, err)
	}
	return d, nil
}

func (b *backend) disable(t Table) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		return nil, b.core.Disable(ctx, t, d.String("path"))
	}
}

func (b *backend) readTune(t Table) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		m, ok := b.find(t, d.String("path"))
		if !ok {
			return nil, logical.InvalidRequest("no mount at %q", d.String("path"))
		}
		data := map[string]any{
			"default_lease_ttl": seconds(m.DefaultLeaseTTL), "max_lease_ttl": seconds(m.MaxLeaseTTL),
			"description": m.Description, "force_no_cache": false,
		}
		if m.Options != nil {
			data["options"] = m.Options
		}
		return logical.DataResponse(data), nil
	}
}

func (b *backend) tune(t Table) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		var tn Tune
		if v, ok := d.GetOk("default_lease_ttl"); ok {
			x := v.(time.Duration)
			tn.DefaultLeaseTTL = &x
		}
		if v, ok := d.GetOk("max_lease_ttl"); ok {
			x := v.(time.Duration)
			tn.MaxLeaseTTL = &x
		}
		if v, ok := d.GetOk("description"); ok {
			x := v.(string)
			tn.Description = &x
		}
		tn.Options = d.KVPairs("options")
		return nil, b.core.Tune(ctx, t, d.String("path"), tn)
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
	if visible, err := b.core.MountVisible(ctx, req.ClientToken, m.Path); err != nil {
		return nil, err
	} else if !visible {
		return nil, logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	}
	data := mountJSON(m)
	data["path"] = m.Path
	return logical.DataResponse(data), nil
}

func (b *backend) uiMounts(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	secret, auth := map[string]any{}, map[string]any{}
	for _, t := range []struct {
		table  Table
		prefix string
		out    map[string]any
	}{{SecretsTable, "", secret}, {AuthTable, "auth/", auth}} {
		for _, m := range b.core.ListMounts(t.table) {
			visible, err := b.core.MountVisible(ctx, req.ClientToken, t.prefix+m.Path)
			if err != nil {
				return nil, err
			}
			if visible {
				t.out[m.Path] = mountJSON(m)
			}
		}
	}
	return logical.DataResponse(map[string]any{"secret": secret, "auth": auth}), nil
}
