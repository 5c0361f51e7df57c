package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// v1 is an unversioned KV mount: each secret path holds one JSON object,
// stored as-is at the same key in the mount's storage.
type v1 struct {
	storage logical.Storage
	system  logical.SystemView // may be nil in tests
}

func newV1(s logical.Storage, sys logical.SystemView) *framework.Backend {
	b := &v1{storage: s, system: sys}
	return &framework.Backend{Paths: []*framework.Path{{
		Pattern: framework.MatchAllRegex("path"),
		Fields:  pathField(),
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.read,
			logical.UpdateOperation: b.write,
			logical.DeleteOperation: b.delete,
			logical.ListOperation:   b.list,
		},
		ExistenceCheck:      b.exists,
		TakesArbitraryInput: true,
		Help:                "Read, write, delete and list unversioned secrets.",
	}}}
}

func (b *v1) exists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	p, err := secretPath(req, "")
	if err != nil {
		return false, err
	}
	ok, err := logical.Exists(ctx, b.storage, p)
	if err != nil {
		return false, fmt.Errorf("check secret: %w", err)
	}
	return ok, nil
}

func (b *v1) read(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, "")
	if err != nil {
		return nil, err
	}
	e, err := b.storage.Get(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if e == nil {
		return nil, nil
	}
	data, err := decodeObject(e.Value)
	if err != nil {
		return nil, err
	}
	resp := logical.DataResponse(data)
	// Like Vault's KV v1, a read carries a lease duration (not a lease):
	// the secret's own "ttl" field, else the mount's default, so that
	// agents know when to read it again.
	if ttl := b.ttl(data); ttl > 0 {
		resp.Secret = &logical.Secret{TTL: ttl}
	}
	return resp, nil
}

// ttl is the refresh interval of a v1 secret: its "ttl" field when that is
// a valid duration, else the mount's default lease TTL.
func (b *v1) ttl(data map[string]any) time.Duration {
	if raw, ok := data["ttl"]; ok {
		if d, err := framework.ParseDuration(raw); err == nil && d > 0 {
			return d
		}
	}
	if b.system == nil {
		return 0
	}
	return b.system.DefaultLeaseTTL()
}

func (b *v1) write(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, "")
	if err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, logical.InvalidRequest("no data provided: send the secret as a JSON object of key/value pairs")
	}
	raw, err := json.Marshal(req.Data)
	if err != nil {
		return nil, logical.InvalidRequest("secret data is not JSON-encodable: %v", err)
	}
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: p, Value: raw}); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return nil, nil
}

func (b *v1) delete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	p, err := secretPath(req, "")
	if err != nil {
		return nil, err
	}
	if err := b.storage.Delete(ctx, p); err != nil {
		return nil, fmt.Errorf("delete secret: %w", err)
	}
	return nil, nil
}

func (b *v1) list(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	prefix := req.Path
	if prefix != "" {
		if err := checkPath(prefix, true); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
	}
	return listKeys(ctx, b.storage, prefix)
}

// decodeObject decodes a stored JSON object, keeping numbers exact. It is
// the check the version 1 upgrade makes before a value becomes version
// data that reads copy into responses unchecked (logical.StoredJSON), so
// it accepts one object and nothing after it: Decode alone took null, and
// an object followed by anything ({"a":1},"b":2), which would have gone
// into the response's envelope as it is.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptEntry, err)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: null, not an object", ErrCorruptEntry)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the object", ErrCorruptEntry)
	}
	return out, nil
}
