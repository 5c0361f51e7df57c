package system

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) capabilityPaths() []*framework.Path {
	fields := func(extra string) map[string]*framework.FieldSchema {
		f := map[string]*framework.FieldSchema{
			"path":  {Type: framework.TypeStringSlice},
			"paths": {Type: framework.TypeStringSlice},
		}
		if extra != "" {
			f[extra] = &framework.FieldSchema{Type: framework.TypeString}
		}
		return f
	}
	return []*framework.Path{
		{Pattern: "capabilities", Fields: fields("token"),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.capabilities("token")}},
		{Pattern: "capabilities-self", Fields: fields("token"),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.capabilities("self")}},
		{Pattern: "capabilities-accessor", Fields: fields("accessor"),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.capabilities("accessor")}},
	}
}

// capabilities answers with each path's capabilities, plus a top-level
// "capabilities" for the single-path form older clients read.
func (b *backend) capabilities(kind string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		paths := append(d.Strings("paths"), d.Strings("path")...)
		if len(paths) == 0 {
			return nil, logical.InvalidRequest("missing 'paths': name at least one path to check")
		}
		var caps map[string][]string
		var err error
		switch kind {
		case "accessor":
			if d.String("accessor") == "" {
				return nil, logical.InvalidRequest("missing 'accessor'")
			}
			caps, err = b.core.CapabilitiesOfAccessor(ctx, d.String("accessor"), paths)
		case "token":
			if d.String("token") == "" {
				return nil, logical.InvalidRequest("missing 'token'")
			}
			caps, err = b.core.CapabilitiesOf(ctx, d.String("token"), paths)
		default:
			caps, err = b.core.CapabilitiesOf(ctx, req.ClientToken, paths)
		}
		if err != nil {
			return nil, err
		}
		data := make(map[string]any, len(caps)+1)
		for p, c := range caps {
			data[p] = c
		}
		data["capabilities"] = caps[paths[0]]
		return logical.DataResponse(data), nil
	}
}
