package tokenutil

import "github.com/cofferhq/coffer/internal/logical"

// Sentinel errors of Parse. Each is a 400-class user error: errors.Is finds
// both the sentinel and logical.ErrInvalidRequest.
var (
	// ErrRootPolicy refuses "root" among the token policies: a login must
	// never mint a root token.
	ErrRootPolicy error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: `the "root" policy cannot be given to tokens issued by an auth method`}
	// ErrWrappingPolicy refuses "response-wrapping" among the token
	// policies: it belongs to response-wrapping tokens alone.
	ErrWrappingPolicy error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: `the "response-wrapping" policy cannot be given to tokens issued by an auth method`}
	// ErrNegativeUses refuses a negative token_num_uses.
	ErrNegativeUses error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: "token_num_uses must not be negative; 0 means unlimited"}
	// ErrTTLOverMax refuses a token_ttl longer than token_max_ttl.
	ErrTTLOverMax error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: "token_ttl must not exceed token_max_ttl"}
)
