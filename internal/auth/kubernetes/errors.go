package kubernetes

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrNoStorage reports a Factory call without a storage view: a bug in
	// the caller.
	ErrNoStorage = errors.New("kubernetes: the mount has no storage")

	// errNotConfigured is a login before auth/<mount>/config was written.
	errNotConfigured error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "could not load backend configuration: write auth/<mount>/config first"}
	// errMissingRole is a login naming no role.
	errMissingRole error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing role"}
	// errMissingJWT is a login without a jwt.
	errMissingJWT error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing jwt"}
	// errCIDR is a login from outside the role's token_bound_cidrs.
	errCIDR error = &logical.UserError{Kind: logical.ErrPermissionDenied,
		Msg: "permission denied: the client address is not in the role's token_bound_cidrs"}
	// errNamespace and errName are tokens of service accounts the role does
	// not bind, with Vault's messages.
	errNamespace error = &logical.UserError{Kind: logical.ErrPermissionDenied, Msg: "namespace not authorized"}
	errName      error = &logical.UserError{Kind: logical.ErrPermissionDenied, Msg: "service account name not authorized"}
)

// denied is a refusal of the caller's token: a 403 saying which check
// failed, never quoting the token.
func denied(format string, args ...any) error {
	return logical.CodedError(logical.ErrPermissionDenied, "permission denied: "+format, args...)
}
