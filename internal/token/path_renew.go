package token

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (s *Store) renewPaths() []*framework.Path {
	increment := &framework.FieldSchema{Type: framework.TypeDurationSecond, Description: "Requested new TTL; defaults to the creation TTL."}
	return []*framework.Path{
		{
			Pattern: "renew",
			Fields: map[string]*framework.FieldSchema{
				"token":     {Type: framework.TypeString, Description: "Token to renew."},
				"increment": increment,
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: s.handleRenew,
			},
			Help: "Extend a token's life.",
		},
		{
			Pattern: "renew-accessor",
			Fields: map[string]*framework.FieldSchema{
				"accessor":  {Type: framework.TypeString, Description: "Accessor of the token to renew."},
				"increment": increment,
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: s.handleRenewAccessor,
			},
			Help: "Extend a token's life by its accessor.",
		},
		{
			Pattern: "renew-self",
			Fields:  map[string]*framework.FieldSchema{"increment": increment},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: s.handleRenewSelf,
			},
			Help: "Extend the caller's token's life.",
		},
	}
}

func (s *Store) handleRenew(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.String("token")
	if id == "" {
		return nil, ErrMissingToken
	}
	return s.renewResponse(ctx, id, d)
}

func (s *Store) handleRenewSelf(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if req.ClientToken == "" {
		return nil, ErrNoCaller
	}
	return s.renewResponse(ctx, req.ClientToken, d)
}

func (s *Store) renewResponse(ctx context.Context, id string, d *framework.FieldData) (*logical.Response, error) {
	if IsBatch(id) {
		return nil, s.batchRefusal(ctx, id, ErrBatchNotRenewable, ErrBadToken)
	}
	e, ttl, err := s.Renew(ctx, s.mac(id), d.Duration("increment"))
	if err != nil {
		return nil, err
	}
	return authResponse(id, e, ttl), nil
}

// handleRenewAccessor renews the token behind an accessor; the response
// does not show the token, as in Vault.
func (s *Store) handleRenewAccessor(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, err := s.accessorEntry(ctx, d)
	if err != nil {
		return nil, err
	}
	e, ttl, err := s.Renew(ctx, e.Hash, d.Duration("increment"))
	if err != nil {
		return nil, err
	}
	return authResponse("", e, ttl), nil
}

// batchRefusal answers a renewal or revocation of batch token id: refused
// when the token is live, unknown (as for any unknown token) otherwise.
func (s *Store) batchRefusal(ctx context.Context, id string, refused, unknown error) error {
	e, err := s.lookupBatch(ctx, id)
	switch {
	case err != nil:
		return err
	case e == nil:
		return unknown
	}
	return refused
}
