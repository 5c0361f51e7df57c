package token

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) revokePaths() []*framework.Path {
	tokenField := map[string]*framework.FieldSchema{"token": {Type: framework.TypeString, Description: "Token to revoke."}}
	update := func(fn framework.OperationFunc) map[logical.Operation]framework.OperationFunc {
		return map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: fn}
	}
	return []*framework.Path{
		{Pattern: "revoke", Fields: tokenField, Operations: update(s.handleRevoke(true)), Help: "Revoke a token and its children."},
		{Pattern: "revoke-orphan", Fields: tokenField, Operations: update(s.handleRevoke(false)), Help: "Revoke a token, orphaning its children (sudo)."},
		{Pattern: "revoke-self", Fields: map[string]*framework.FieldSchema{}, Operations: update(s.handleRevokeSelf), Help: "Revoke the caller's token and its children."},
		{
			Pattern:    "revoke-accessor",
			Fields:     map[string]*framework.FieldSchema{"accessor": {Type: framework.TypeString, Description: "Accessor of the token to revoke."}},
			Operations: update(s.handleRevokeAccessor),
			Help:       "Revoke a token, and its children, by accessor.",
		},
	}
}

// handleRevoke serves revoke (tree) and revoke-orphan. Revoking a token that
// does not exist succeeds, as in Vault.
func (s *Store) handleRevoke(tree bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		id := d.String("token")
		if id == "" {
			return nil, ErrMissingToken
		}
		if IsBatch(id) {
			return nil, s.batchRefusal(ctx, id, ErrBatchNotRevocable, nil)
		}
		if tree {
			return nil, s.Revoke(ctx, s.mac(id))
		}
		return nil, s.RevokeOrphan(ctx, s.mac(id))
	}
}

func (s *Store) handleRevokeSelf(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	if req.ClientToken == "" {
		return nil, ErrNoCaller
	}
	if IsBatch(req.ClientToken) {
		return nil, s.batchRefusal(ctx, req.ClientToken, ErrBatchNotRevocable, ErrNoCaller)
	}
	return nil, s.Revoke(ctx, s.mac(req.ClientToken))
}

func (s *Store) handleRevokeAccessor(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, err := s.accessorEntry(ctx, d)
	if err != nil {
		return nil, err
	}
	return nil, s.Revoke(ctx, e.Hash)
}
