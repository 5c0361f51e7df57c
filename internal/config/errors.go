package config

import (
	"errors"
	"fmt"
)

// Sentinel kinds of configuration error. Every error from Parse and
// LoadFile is an *Error whose Kind is one of these; match with errors.Is.
var (
	// ErrSyntax is malformed HCL or JSON.
	ErrSyntax = errors.New("syntax error")
	// ErrUnknownKey is a key, block or block type Coffer does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicate is a key or single block written twice.
	ErrDuplicate = errors.New("duplicate key")
	// ErrInvalidValue is a value of the wrong type or out of range.
	ErrInvalidValue = errors.New("invalid value")
	// ErrMissing is a required block or key that is absent (for example
	// the storage block).
	ErrMissing = errors.New("missing required setting")
	// ErrTLSRequired is a tcp listener without certificate and key that
	// did not opt out of TLS with tls_disable = true.
	ErrTLSRequired = errors.New("listener needs TLS")
	// ErrRead is a configuration or key file that cannot be read.
	ErrRead = errors.New("cannot read file")
	// ErrSealKey is a seal key file whose content is not base64 or hex of
	// 32 random bytes.
	ErrSealKey = errors.New("invalid seal key")
)

// Error is a configuration problem at a place in a file. Line is 1-based;
// it is 0 when the problem has no single place (a missing block, an
// unreadable file).
type Error struct {
	File string
	Line int
	Kind error
	// Msg names the key at fault and what to do; it never contains secret
	// material.
	Msg string
}

// Error renders "config.hcl:7: unknown key \"listner\"".
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return e.Msg
}

// Unwrap returns the Kind so that errors.Is(err, ErrUnknownKey) works.
func (e *Error) Unwrap() error { return e.Kind }
