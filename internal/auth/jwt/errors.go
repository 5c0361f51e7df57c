package jwt

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrNoStorage reports a Factory call without a storage view: a bug in
	// the caller.
	ErrNoStorage = errors.New("jwt: the mount has no storage")

	// errNotConfigured is a login before auth/<mount>/config was written.
	errNotConfigured error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "could not load configuration"}
	// errMissingRole is a login naming no role on a mount without a
	// default_role.
	errMissingRole error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing role"}
	// errMissingToken is a login without a jwt.
	errMissingToken error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing token"}
	// errUnboundAudience is a token with an audience on a role that binds
	// none, which Vault refuses so that a token meant for another service
	// is not accepted by accident.
	errUnboundAudience error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: "audience claim found in JWT but no audiences bound to the role"}
	// errCIDR is a login from outside the role's token_bound_cidrs.
	errCIDR error = &logical.UserError{Kind: logical.ErrPermissionDenied,
		Msg: "permission denied: the client address is not in the role's token_bound_cidrs"}
)
