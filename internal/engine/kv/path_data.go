package kv

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

const dataPrefix = "data/"

func (b *v2) dataPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: dataPrefix + framework.MatchAllRegex("path"),
		Fields: map[string]*framework.FieldSchema{
			"path":    {Type: framework.TypeString, Description: "Path of the secret."},
			"version": {Type: framework.TypeInt, Description: "Version to read; 0 or absent for the current one."},
			"data":    {Type: framework.TypeMap, Description: "The secret's key/value pairs."},
			"options": {Type: framework.TypeMap, Description: "Write options; \"cas\" is the version the write expects to replace."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readData,
			logical.UpdateOperation: b.writeData,
			logical.PatchOperation:  b.patchData,
			logical.DeleteOperation: b.deleteLatest,
		},
		ExistenceCheck: b.exists(dataPrefix),
		Help:           "Read, write, patch and soft-delete versions of a secret.",
	}}
}

func (b *v2) readData(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, dataPrefix)
	if err != nil {
		return nil, err
	}
	v, err := b.peekVersion(ctx, p, d.Int("version"))
	if err != nil || v == nil {
		return nil, err
	}
	resp := logical.DataResponse(map[string]any{
		"data":     logical.StoredJSON(v.raw),
		"metadata": v.meta.versionJSON(v.num, v.vm),
	})
	if v.raw == nil {
		// Vault answers a deleted or destroyed version with its metadata
		// and a 404, so that clients can tell it from a missing secret.
		resp.Data["data"] = nil
		resp.Status = 404
	}
	return resp, nil
}

func (b *v2) writeData(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, dataPrefix)
	if err != nil {
		return nil, err
	}
	data, ok := d.GetOk("data")
	if !ok {
		return nil, logical.InvalidRequest(`no data provided: send the secret as {"data": {"key": "value"}}`)
	}
	w := writeReq{path: p, hash: hashPath(p), data: data.(map[string]any)}
	if w.cas, w.hasCAS, err = casOption(d); err != nil {
		return nil, err
	}
	defer b.locks.lock(w.hash).Unlock()
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	m, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = newMeta(b.now())
	}
	return b.commit(ctx, m, cfg, w)
}

// patchData applies a JSON merge patch (RFC 7396) to the current version
// and stores the result as a new version.
func (b *v2) patchData(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, dataPrefix)
	if err != nil {
		return nil, err
	}
	patch, ok := d.GetOk("data")
	if !ok {
		return nil, logical.InvalidRequest(`no data provided: send the changes as {"data": {"key": "value"}}`)
	}
	w := writeReq{path: p, hash: hashPath(p)}
	if w.cas, w.hasCAS, err = casOption(d); err != nil {
		return nil, err
	}
	defer b.locks.lock(w.hash).Unlock()
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	cur, err := b.readVersion(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	if cur != nil {
		// As in Vault, check-and-set is answered before whether the
		// current version is live.
		if err := w.checkCAS(cur.meta, cfg); err != nil {
			return nil, err
		}
	}
	if cur == nil || cur.raw == nil {
		return nil, logical.CodedError(logical.ErrNotFound,
			"no live version at %q to patch: write the secret first, or undelete its current version", p)
	}
	data, err := cur.decoded()
	if err != nil {
		return nil, err
	}
	w.data = mergePatch(data, patch.(map[string]any))
	return b.commit(ctx, cur.meta, cfg, w)
}

// deleteLatest soft-deletes the current version; deleting a missing secret
// or an already deleted version is not an error.
func (b *v2) deleteLatest(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, dataPrefix)
	if err != nil {
		return nil, err
	}
	h := hashPath(p)
	defer b.locks.lock(h).Unlock()
	m, err := loadMeta(ctx, b.storage, p)
	if err != nil || m == nil {
		return nil, err
	}
	vm, ok := m.Versions[m.CurrentVersion]
	now := b.now()
	if !ok || !vm.live(now) {
		return nil, nil
	}
	vm.DeletionTime = now
	m.Versions[m.CurrentVersion] = vm
	m.UpdatedTime = now
	return nil, b.saveMeta(ctx, p, m, nil)
}

// mergePatch applies patch to target as RFC 7396 describes: null removes a
// key, an object merges into an object, anything else replaces. target is
// not modified.
func mergePatch(target, patch map[string]any) map[string]any {
	out := make(map[string]any, len(target)+len(patch))
	for k, v := range target {
		out[k] = v
	}
	for k, pv := range patch {
		switch pv := pv.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			tv, _ := out[k].(map[string]any)
			out[k] = mergePatch(tv, pv)
		default:
			out[k] = pv
		}
	}
	return out
}
