package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openbao/openbao/api/v2"
)

// Exit codes follow Vault's CLI, so scripts written for it keep working.
const (
	exitOK     = 0
	exitUsage  = 1 // bad arguments, flags or local files
	exitServer = 2 // the server answered with an error, or nothing was found
)

// Sentinel errors for conditions the commands detect themselves.
var (
	errNotKVv2       = errors.New("this operation needs a KV version 2 mount")
	errNoData        = errors.New("no data given: pass key=value pairs, @file, or - to read JSON from stdin")
	errNotKeyValue   = errors.New("argument is not in key=value form")
	errStdinTwice    = errors.New("standard input can be read only once")
	errNotJSONObject = errors.New("input is not a JSON object")
	errBadVersions   = errors.New("versions must be a comma-separated list of positive integers")
	errNoTTY         = errors.New("no terminal to prompt on")
	errBadDuration   = errors.New("not a duration: use a number of seconds or a Go duration such as 1h30m")
)

// exitError is an error whose message is already worded for the user and
// which decides the process exit code. Messages never contain secrets: they
// are built from paths, flag names and the server's own error strings.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageErrorf reports a mistake in how the command was called (exit 1).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// usageError wraps a local failure (bad argument, unreadable file) as an
// exit-1 error prefixed with what was being done.
func usageError(doing string, err error) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf("Error %s: %s", doing, err)}
}

// serverError reports a failed request (exit 2) as "Error <doing>: <the
// server's messages>". Transport failures are reported the same way: the
// address is not secret and the request body is never included.
func serverError(doing string, err error) error {
	return &exitError{code: exitServer, msg: fmt.Sprintf("Error %s: %s", doing, describe(err))}
}

// notFound reports a read that found nothing (exit 2), as Vault does.
func notFound(path string) error {
	return &exitError{code: exitServer, msg: "No value found at " + path}
}

// describe renders an API error as the status code and the server's own
// messages, leaving out the URL and request so nothing sensitive leaks.
func describe(err error) string {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Code: %d. Errors:\n", re.StatusCode)
	if len(re.Errors) == 0 {
		b.WriteString("\n* (no message)")
	}
	for _, m := range re.Errors {
		b.WriteString("\n* " + m)
	}
	return b.String()
}
