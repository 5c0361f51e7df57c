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
	e, ttl, err := s.Renew(ctx, s.mac(id), d.Duration("increment"))
	if err != nil {
		return nil, err
	}
	return authResponse(id, e, ttl), nil
}
