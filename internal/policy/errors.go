package policy

import (
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/logical"
)

// Sentinel errors for the naming rules of the built-in policies. They are
// user errors (400 at the HTTP boundary): errors.Is finds both the sentinel
// itself and logical.ErrInvalidRequest.
var (
	// ErrRootPolicy is returned when the caller tries to parse, write or
	// delete the built-in "root" policy, which has no text and cannot change.
	ErrRootPolicy error = &logical.UserError{
		Kind: logical.ErrInvalidRequest,
		Msg:  `cannot update or delete the "root" policy`,
	}
	// ErrDefaultPolicyDelete is returned when the caller tries to delete the
	// "default" policy; it may be rewritten but must always exist.
	ErrDefaultPolicyDelete error = &logical.UserError{
		Kind: logical.ErrInvalidRequest,
		Msg:  `cannot delete the "default" policy`,
	}
	// ErrResponseWrappingPolicy is returned when the caller tries to write
	// or delete the built-in "response-wrapping" policy.
	ErrResponseWrappingPolicy error = &logical.UserError{
		Kind: logical.ErrInvalidRequest,
		Msg:  `cannot update or delete the "response-wrapping" policy`,
	}
	// ErrEmptyName is returned for a policy name that is empty after
	// trimming spaces.
	ErrEmptyName error = &logical.UserError{
		Kind: logical.ErrInvalidRequest,
		Msg:  "policy name must not be empty",
	}
)

// ParseError is any problem found in policy text: HCL syntax, an unknown
// key, an unknown capability or a value of the wrong type. Line and Column
// are 1-based and point at the offending token; they are 0 when the problem
// has no single place (for example, empty text).
//
// A ParseError unwraps to a *logical.UserError of kind
// logical.ErrInvalidRequest, so errors.Is(err, logical.ErrInvalidRequest)
// and errors.As(err, **logical.UserError) both hold and the HTTP layer
// answers 400 with the message.
type ParseError struct {
	// Policy is the policy name, empty when unknown (for example in Format).
	Policy string
	Line   int
	Column int
	// Msg names the problem without position or policy name.
	Msg string
}

// Error renders `policy "dev": line 3, column 17: unknown capability "raed"`.
func (e *ParseError) Error() string {
	prefix := ""
	if e.Policy != "" {
		prefix = fmt.Sprintf("policy %q: ", e.Policy)
	}
	if e.Line > 0 {
		return fmt.Sprintf("%sline %d, column %d: %s", prefix, e.Line, e.Column, e.Msg)
	}
	return prefix + e.Msg
}

// Unwrap returns the 400-class user error carrying the full message.
func (e *ParseError) Unwrap() error {
	return &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: e.Error()}
}

// Internal causes wrapped into a position-less ParseError by syntaxError.
var (
	errMalformed   = errors.New("malformed policy text")
	errInvalidJSON = errors.New("policy text starts with '{' but is not valid JSON")
	// errUnbalancedTemplate marks a path pattern whose "{{" and "}}" do
	// not pair up; checkPattern turns it into a ParseError.
	errUnbalancedTemplate = errors.New("unbalanced templating characters: every '{{' needs one '}}' after it")
)
