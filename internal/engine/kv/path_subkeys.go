package kv

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

const subkeysPrefix = "subkeys/"

func (b *v2) subkeysPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: subkeysPrefix + framework.MatchAllRegex("path"),
		Fields: map[string]*framework.FieldSchema{
			"path":    {Type: framework.TypeString, Description: "Path of the secret."},
			"version": {Type: framework.TypeInt, Description: "Version to describe; 0 or absent for the current one."},
			"depth":   {Type: framework.TypeInt, Description: "Deepest level to show; 0 for no limit."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation: b.readSubkeys,
		},
		Help: "The shape of a secret (its keys, values replaced by null) without its values.",
	}}
}

func (b *v2) readSubkeys(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, subkeysPrefix)
	if err != nil {
		return nil, err
	}
	depth := d.Int("depth")
	if depth < 0 {
		return nil, logical.InvalidRequest("depth must not be negative")
	}
	v, err := b.peekVersion(ctx, p, d.Int("version"))
	if err != nil || v == nil {
		return nil, err
	}
	resp := logical.DataResponse(map[string]any{
		"subkeys":  nil,
		"metadata": v.meta.versionResponse(v.num, v.vm),
	})
	data, err := v.decoded()
	if err != nil {
		return nil, err
	}
	if data == nil {
		resp.Status = 404
		return resp, nil
	}
	resp.Data["subkeys"] = subkeys(data, depth, 1)
	return resp, nil
}

// subkeys copies the key structure of m, replacing every value that is not
// a non-empty object, and every value at the depth limit, by nil.
func subkeys(m map[string]any, depth, level int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		sub, ok := v.(map[string]any)
		if !ok || len(sub) == 0 || (depth > 0 && level >= depth) {
			out[k] = nil
			continue
		}
		out[k] = subkeys(sub, depth, level+1)
	}
	return out
}
