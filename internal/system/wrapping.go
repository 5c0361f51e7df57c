package system

import (
	"context"
	"encoding/json"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Wrapping serves sys/wrapping/* (see package wrapping). In each method,
// clientToken is the request's token and tok the body's "token" (empty:
// the request's own token is the wrapping token).
type Wrapping interface {
	// Unwrap returns the wrapped response's JSON body, once.
	Unwrap(ctx context.Context, clientToken, tok string) (json.RawMessage, error)
	// WrapLookup returns creation_ttl, creation_time and creation_path.
	WrapLookup(ctx context.Context, clientToken, tok string) (map[string]any, error)
	// Rewrap moves the response into a new wrapping token.
	Rewrap(ctx context.Context, clientToken, tok string) (*logical.WrapInfo, error)
}

// wrapLookupPath is served without a token, as in Vault: the wrapping
// token it looks up is its own credential.
const wrapLookupPath = "wrapping/lookup"

func (b *backend) wrappingPaths() []*framework.Path {
	tokenField := func() map[string]*framework.FieldSchema {
		return map[string]*framework.FieldSchema{"token": {Type: framework.TypeString,
			Description: "The wrapping token; without it, the request's own token is the wrapping token."}}
	}
	return []*framework.Path{
		{
			Pattern:             "wrapping/wrap",
			Operations:          map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.wrapData},
			TakesArbitraryInput: true,
			Help:                "Wrap the request's data in a response-wrapping token (needs X-Vault-Wrap-TTL).",
		},
		{
			Pattern:    "wrapping/unwrap",
			Fields:     tokenField(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.unwrap},
			Help:       "Unwrap a response-wrapping token, once.",
		},
		{
			Pattern: wrapLookupPath,
			Fields:  tokenField(),
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: b.wrapLookup,
				logical.ReadOperation:   b.wrapLookup,
			},
			Help: "Report a wrapping token's creation time, TTL and path without unwrapping it.",
		},
		{
			Pattern:    "wrapping/rewrap",
			Fields:     tokenField(),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.rewrap},
			Help:       "Move a wrapped response into a new wrapping token with the same TTL.",
		},
	}
}

// wrapData answers with the request's own data, which the core then wraps;
// a request that asked for no wrapping is refused, as in Vault.
func (b *backend) wrapData(_ context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if req.WrapTTL == 0 {
		return nil, logical.InvalidRequest("endpoint requires response wrapping to be used")
	}
	return logical.DataResponse(d.Raw()), nil
}

// unwrap answers with the wrapped response's body as it was, as Vault does.
func (b *backend) unwrap(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	body, err := b.core.Unwrap(ctx, req.ClientToken, d.String("token"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: body}, nil
}

func (b *backend) wrapLookup(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	data, err := b.core.WrapLookup(ctx, req.ClientToken, d.String("token"))
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(data), nil
}

func (b *backend) rewrap(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	info, err := b.core.Rewrap(ctx, req.ClientToken, d.String("token"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{WrapInfo: info}, nil
}
