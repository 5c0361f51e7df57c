package system

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) keyPaths() []*framework.Path {
	rotateConfig := map[logical.Operation]framework.OperationFunc{
		logical.ReadOperation:   b.readRotateConfig,
		logical.UpdateOperation: b.writeRotateConfig,
	}
	rotateFields := map[string]*framework.FieldSchema{
		"max_operations": {Type: framework.TypeInt},
		"interval":       {Type: framework.TypeDurationSecond},
		"enabled":        {Type: framework.TypeBool},
	}
	const configHelp = "When the barrier key rotates on its own: after max_operations encryptions or when interval (0: never) has passed since the last rotation; enabled=false turns this off."
	return []*framework.Path{
		// sys/rotate/keyring is the newer name the OpenBao client uses.
		{Pattern: "rotate(/keyring)?", Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rotate}},
		{Pattern: "rotate(/keyring)?/config", Fields: rotateFields, Operations: rotateConfig, Help: configHelp},
		{Pattern: "key-status", Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.keyStatus}},
	}
}

func keyStatusData(ks KeyStatus) map[string]any {
	return map[string]any{"term": ks.Term, "install_time": ks.InstallTime.UTC().Format(time.RFC3339Nano), "encryptions": ks.Encryptions}
}

func (b *backend) rotate(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ks, err := b.core.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(keyStatusData(ks)), nil
}

func (b *backend) keyStatus(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	ks, err := b.core.KeyStatus(ctx)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(keyStatusData(ks)), nil
}

// readRotateConfig answers as Vault does: interval is a duration string,
// or the number 0 when rotation by age is off.
func (b *backend) readRotateConfig(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.core.RotationConfig(ctx)
	if err != nil {
		return nil, err
	}
	var interval any = 0
	if c.Interval > 0 {
		interval = c.Interval.String()
	}
	return logical.DataResponse(map[string]any{"max_operations": c.MaxOperations, "interval": interval, "enabled": !c.Disabled}), nil
}

// writeRotateConfig changes only the fields given.
func (b *backend) writeRotateConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c, err := b.core.RotationConfig(ctx)
	if err != nil {
		return nil, err
	}
	if v, ok := d.GetOk("max_operations"); ok {
		c.MaxOperations = int64(v.(int))
	}
	if v, ok := d.GetOk("interval"); ok {
		c.Interval = v.(time.Duration)
	}
	if v, ok := d.GetOk("enabled"); ok {
		c.Disabled = !v.(bool)
	}
	return nil, b.core.SetRotationConfig(ctx, c)
}
