package agent

import (
	"errors"
	"fmt"
)

var (
	// ErrAuth wraps every failure to obtain a token from the configured
	// auto-auth method.
	ErrAuth = errors.New("auto-auth failed")
	// ErrRender wraps a template that could not be rendered (a secret
	// that could not be read, a missing key with error_on_missing_key, a
	// template error).
	ErrRender = errors.New("template render failed")
	// ErrNoSecret is a secret path the server has nothing at.
	ErrNoSecret = errors.New("no secret at path")
	// ErrWrite is a destination or sink file that could not be written.
	ErrWrite = errors.New("cannot write file")
	// ErrNotRendered is a template whose destination is not there yet
	// (Rendered).
	ErrNotRendered = errors.New("not rendered yet")
)

// ChildExitError is returned by Run when the exec child exited on its
// own: the agent exits with the child's code, as Vault Agent does.
type ChildExitError struct {
	Code int
}

func (e *ChildExitError) Error() string {
	return fmt.Sprintf("exec child exited with code %d", e.Code)
}
