package lockout

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrLocked refuses a login for a locked alias. It is the 403
	// "permission denied" Vault answers, the same whether or not the user
	// exists, so that it tells a caller nothing but that logins for this
	// name are refused for now.
	ErrLocked error = &logical.UserError{Kind: logical.ErrPermissionDenied, Msg: "permission denied"}

	// ErrBadEnv reports an environment switch (VAULT_DISABLE_USER_LOCKOUT
	// and its COFFER_ twin) whose value is not a boolean.
	ErrBadEnv = errors.New("user lockout environment switch is not a boolean")
)
