package cubbyhole

import (
	"context"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Owners tells whose cubbyhole a request reaches: HashID is the salted
// hash the token store names a token by (token.Store implements it).
type Owners interface {
	HashID(token string) string
}

// BatchChecker reports whether a token is a batch token, which has no
// cubbyhole (token.IsBatch).
type BatchChecker func(token string) bool

// NewBackend returns the cubbyhole/ engine over store: every path is the
// calling token's own, for read, write (a JSON object), delete and list.
// The core has authenticated and authorised the request; the backend only
// picks the caller's cubbyhole. Safe for concurrent use.
func NewBackend(store *Store, owners Owners, isBatch BatchChecker) logical.Backend {
	b := &backend{store: store, owners: owners, isBatch: isBatch}
	return &framework.Backend{Paths: []*framework.Path{{
		Pattern: framework.MatchAllRegex("path"),
		Fields:  map[string]*framework.FieldSchema{"path": {Type: framework.TypeString, Description: "Where in the cubbyhole."}},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.read,
			logical.UpdateOperation: b.write,
			logical.DeleteOperation: b.delete,
			logical.ListOperation:   b.list,
		},
		ExistenceCheck:      b.exists,
		TakesArbitraryInput: true,
		Help:                "Read, write, delete and list the calling token's own secrets.",
	}}}
}

type backend struct {
	store   *Store
	owners  Owners
	isBatch BatchChecker
}

// owner is the caller's cubbyhole owner and the path inside it, refusing
// batch tokens and (unless list) the cubbyhole's root.
func (b *backend) owner(req *logical.Request, d *framework.FieldData, list bool) (string, string, error) {
	if req.ClientToken == "" {
		return "", "", logical.CodedError(logical.ErrPermissionDenied, "permission denied")
	}
	if b.isBatch(req.ClientToken) {
		return "", "", ErrBatchToken
	}
	p := d.String("path")
	if !list && (p == "" || strings.HasSuffix(p, "/")) {
		return "", "", ErrNoPath
	}
	return b.owners.HashID(req.ClientToken), p, nil
}

func (b *backend) exists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	owner, p, err := b.owner(req, d, false)
	if err != nil {
		return false, err
	}
	v, err := b.store.Get(ctx, owner, p)
	return v != nil, err
}

func (b *backend) read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	owner, p, err := b.owner(req, d, false)
	if err != nil {
		return nil, err
	}
	v, err := b.store.Get(ctx, owner, p)
	if err != nil || v == nil {
		return nil, err
	}
	return logical.DataResponse(v), nil
}

func (b *backend) write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	owner, p, err := b.owner(req, d, false)
	if err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, ErrNoData
	}
	return nil, b.store.Put(ctx, owner, p, req.Data)
}

func (b *backend) delete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	owner, p, err := b.owner(req, d, false)
	if err != nil {
		return nil, err
	}
	return nil, b.store.Delete(ctx, owner, p)
}

// list answers (nil, nil), a 404, when nothing is there.
func (b *backend) list(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	owner, p, err := b.owner(req, d, true)
	if err != nil {
		return nil, err
	}
	keys, err := b.store.List(ctx, owner, p)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}
