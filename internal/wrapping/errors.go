package wrapping

import "github.com/cofferhq/coffer/internal/logical"

var (
	// ErrInvalidToken is Vault's 400 for a wrapping token that is unknown,
	// expired, already unwrapped, or not a wrapping token at all.
	ErrInvalidToken error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "wrapping token is not valid or does not exist"}
	// ErrMissingToken refuses a lookup that names no token at all.
	ErrMissingToken error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: `missing "token" value in input`}
)
