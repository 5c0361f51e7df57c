package kv

import (
	"context"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

const metadataRoute = "metadata/"

// Vault's limits on custom metadata, kept so that what one accepts the
// other does too.
const (
	maxCustomKeys     = 64
	maxCustomKeyLen   = 128
	maxCustomValueLen = 512
)

func (b *v2) metadataPaths() []*framework.Path {
	return []*framework.Path{{
		// "metadata" alone is the mount root for LIST.
		Pattern: `metadata(?:/` + framework.MatchAllRegex("path") + `)?`,
		Fields: map[string]*framework.FieldSchema{
			"path":                 {Type: framework.TypeString, Description: "Path of the secret, or of a folder to list."},
			"max_versions":         {Type: framework.TypeInt, Description: "Versions to keep; 0 uses the mount's setting."},
			"cas_required":         {Type: framework.TypeBool, Description: "Require options.cas on every write of this secret."},
			"delete_version_after": {Type: framework.TypeDurationSecond, Description: "Soft-delete each version this long after it is written; 0 uses the mount's setting."},
			"custom_metadata":      {Type: framework.TypeMap, Description: "Free-form string pairs kept with the secret (not secret themselves)."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readMetadata,
			logical.UpdateOperation: b.writeMetadata,
			logical.PatchOperation:  b.writeMetadata,
			logical.DeleteOperation: b.deleteMetadata,
			logical.ListOperation:   b.listMetadata,
		},
		ExistenceCheck: b.exists(metadataRoute),
		Help:           "Read and change a secret's settings and version history, delete a secret entirely, or list secrets.",
	}}
}

func (b *v2) readMetadata(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, metadataRoute)
	if err != nil {
		return nil, err
	}
	m, err := loadMeta(ctx, b.storage, p)
	if err != nil || m == nil {
		return nil, err
	}
	return logical.DataResponse(m.response()), nil
}

// writeMetadata serves PUT (custom_metadata replaces) and PATCH
// (custom_metadata merges, null removes a key, and the secret must exist).
// Settings absent from the request keep their values.
func (b *v2) writeMetadata(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, metadataRoute)
	if err != nil {
		return nil, err
	}
	patch := req.Operation == logical.PatchOperation
	h := hashPath(p)
	defer b.locks.lock(h).Unlock()
	m, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	now := b.now()
	switch {
	case m == nil && patch:
		return nil, logical.CodedError(logical.ErrNotFound, "no metadata at %q to patch: write the secret or its metadata first", p)
	case m == nil:
		m = newMeta(now)
	}
	if err := applyMetadata(m, d, patch); err != nil {
		return nil, err
	}
	m.UpdatedTime = now
	// Like Vault, lowering max_versions here prunes nothing: the next data
	// write does, so a mistyped value can be corrected before data is lost.
	if err := b.saveMeta(ctx, p, m, nil); err != nil {
		return nil, err
	}
	return b.casRequiredWarning(ctx, d)
}

// casRequiredWarning answers a metadata write that sets cas_required to
// false on a mount whose config requires check-and-set: the setting is
// stored, as in Vault, but warned about, since writes still need options.cas.
func (b *v2) casRequiredWarning(ctx context.Context, d *framework.FieldData) (*logical.Response, error) {
	if v, ok := d.GetOk("cas_required"); !ok || v.(bool) {
		return nil, nil
	}
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil || !cfg.CASRequired {
		return nil, err
	}
	resp := &logical.Response{}
	resp.AddWarning("cas_required is false for this secret, but the mount's config requires check-and-set on every write, so writes still need options.cas")
	return resp, nil
}

// applyMetadata copies the settings present in d onto m.
func applyMetadata(m *keyMeta, d *framework.FieldData, patch bool) error {
	if v, ok := d.GetOk("max_versions"); ok {
		if v.(int) < 0 {
			return logical.InvalidRequest("max_versions must not be negative")
		}
		m.MaxVersions = v.(int)
	}
	if v, ok := d.GetOk("cas_required"); ok {
		m.CASRequired = v.(bool)
	}
	if v, ok := d.GetOk("delete_version_after"); ok {
		m.DeleteVersionAfter = v.(time.Duration)
	}
	if v, ok := d.GetOk("custom_metadata"); ok {
		cm, err := customMetadata(m.CustomMetadata, v.(map[string]any), patch)
		if err != nil {
			return err
		}
		m.CustomMetadata = cm
	}
	return nil
}

// customMetadata returns the new custom metadata: in replaces old, or with
// patch merges into it. Values must be strings (or null, to remove a key,
// when patching), within Vault's limits.
func customMetadata(old map[string]string, in map[string]any, patch bool) (map[string]string, error) {
	out := make(map[string]string, len(old)+len(in))
	if patch {
		for k, v := range old {
			out[k] = v
		}
	}
	for k, v := range in {
		switch v := v.(type) {
		case string:
			if len(k) > maxCustomKeyLen {
				return nil, logical.InvalidRequest("custom_metadata key %.32q… is longer than %d bytes", k, maxCustomKeyLen)
			}
			if len(v) > maxCustomValueLen {
				return nil, logical.InvalidRequest("custom_metadata value of %q is longer than %d bytes", k, maxCustomValueLen)
			}
			out[k] = v
		case nil:
			if !patch {
				return nil, logical.InvalidRequest("custom_metadata value of %q is null: values must be strings", k)
			}
			delete(out, k)
		default:
			return nil, logical.InvalidRequest("custom_metadata value of %q must be a string", k)
		}
	}
	if len(out) > maxCustomKeys {
		return nil, logical.InvalidRequest("custom_metadata has %d keys; at most %d are allowed", len(out), maxCustomKeys)
	}
	return out, nil
}

// deleteMetadata removes every version and the metadata of a secret, for good.
func (b *v2) deleteMetadata(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, metadataRoute)
	if err != nil {
		return nil, err
	}
	h := hashPath(p)
	defer b.locks.lock(h).Unlock()
	m, err := loadMeta(ctx, b.storage, p)
	if err != nil || m == nil {
		return nil, err
	}
	ops := make([]logical.TxnOp, 0, len(m.Versions)+1)
	for v := range m.Versions {
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: versionKey(h, v)}})
	}
	ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: metadataPrefix + p}})
	if err := logical.ApplyTxn(ctx, b.storage, ops); err != nil {
		return nil, err
	}
	return nil, nil
}

func (b *v2) listMetadata(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	prefix := strings.TrimPrefix(strings.TrimPrefix(req.Path, "metadata"), "/")
	if prefix != "" {
		if err := checkPath(prefix, true); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
	}
	return listKeys(ctx, b.storage, metadataPrefix+prefix)
}
