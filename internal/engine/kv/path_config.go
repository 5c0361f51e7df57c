package kv

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *v2) configPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "config",
		Fields: map[string]*framework.FieldSchema{
			"max_versions":         {Type: framework.TypeInt, Description: "Versions each secret keeps; 0 means 10."},
			"cas_required":         {Type: framework.TypeBool, Description: "Require options.cas on every write in the mount."},
			"delete_version_after": {Type: framework.TypeDurationSecond, Description: "Soft-delete each version this long after it is written; 0 never."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readConfig,
			logical.UpdateOperation: b.writeConfig,
		},
		Help: "Mount-wide defaults for every secret.",
	}}
}

func (b *v2) readConfig(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"max_versions":         c.MaxVersions,
		"cas_required":         c.CASRequired,
		"delete_version_after": c.DeleteVersionAfter.String(),
	}), nil
}

// writeConfig changes the settings present in the request; the others keep
// their values.
func (b *v2) writeConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	// Config writes are rare; one stripe keeps two of them from losing each
	// other's fields without a lock of its own.
	defer b.locks.lock(hashPath(configKey)).Unlock()
	c, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	if v, ok := d.GetOk("max_versions"); ok {
		if v.(int) < 0 {
			return nil, logical.InvalidRequest("max_versions must not be negative")
		}
		c.MaxVersions = v.(int)
	}
	if v, ok := d.GetOk("cas_required"); ok {
		c.CASRequired = v.(bool)
	}
	if v, ok := d.GetOk("delete_version_after"); ok {
		c.DeleteVersionAfter = v.(time.Duration)
	}
	if err := logical.PutJSON(ctx, b.storage, configKey, c); err != nil {
		return nil, err
	}
	return nil, nil
}
