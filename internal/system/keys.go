package system

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) keyPaths() []*framework.Path {
	return []*framework.Path{
		{Pattern: "rotate", Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rotate}},
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
