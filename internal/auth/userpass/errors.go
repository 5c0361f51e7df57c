package userpass

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrNoStorage reports a Factory call without a storage view: a bug in
	// the caller, not something a user can fix.
	ErrNoStorage = errors.New("userpass: the mount has no storage")

	// ErrInvalidCredentials is the one answer to every failed login, a
	// 400-class error with Vault's message. It is the same value whether the
	// user does not exist, the password is wrong or the caller's address is
	// outside the user's bound CIDRs, so that a caller cannot tell which.
	// Its kind is logical.ErrInvalidCredentials, which the core's user
	// lockout counts.
	ErrInvalidCredentials error = &logical.UserError{Kind: logical.ErrInvalidCredentials, Msg: "invalid username or password"}
)
