package system

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) policyPaths() []*framework.Path {
	nameFields := map[string]*framework.FieldSchema{
		"name":   {Type: framework.TypeString},
		"policy": {Type: framework.TypeString},
		"rules":  {Type: framework.TypeString},
	}
	one := map[logical.Operation]framework.OperationFunc{
		logical.ReadOperation:   b.readPolicy,
		logical.UpdateOperation: b.writePolicy,
		logical.DeleteOperation: b.deletePolicy,
	}
	return []*framework.Path{
		{
			Pattern: "policies/acl" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ListOperation: b.listPolicies(false),
				logical.ReadOperation: b.listPolicies(false),
			},
		},
		{Pattern: "policies/acl/" + framework.MatchAllRegex("name"), Fields: nameFields, Operations: one},
		{
			Pattern: "policy" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.listPolicies(true),
				logical.ListOperation: b.listPolicies(true),
			},
		},
		{Pattern: "policy/" + framework.MatchAllRegex("name"), Fields: nameFields, Operations: one},
	}
}

func (b *backend) listPolicies(legacy bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		names, err := b.core.ListPolicies(ctx)
		if err != nil {
			return nil, err
		}
		data := map[string]any{"keys": names}
		if legacy {
			data["policies"] = names
		}
		return logical.DataResponse(data), nil
	}
}

func (b *backend) readPolicy(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	text, found, err := b.core.GetPolicy(ctx, name)
	if err != nil || !found {
		return nil, err
	}
	data := map[string]any{"name": name, "policy": text}
	if req.Path == "policy/"+name {
		data["rules"] = text
	}
	return logical.DataResponse(data), nil
}

func (b *backend) writePolicy(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	text := d.String("policy")
	if text == "" {
		text = d.String("rules")
	}
	if text == "" {
		return nil, logical.InvalidRequest("'policy' parameter not supplied or empty")
	}
	return nil, b.core.PutPolicy(ctx, d.String("name"), text)
}

func (b *backend) deletePolicy(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, b.core.DeletePolicy(ctx, d.String("name"))
}
