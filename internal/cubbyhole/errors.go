package cubbyhole

import (
	"errors"

	"github.com/cofferhq/coffer/internal/logical"
)

var (
	// ErrBatchToken refuses cubbyhole operations to batch tokens, which are
	// never stored and so have no revocation to destroy a cubbyhole with.
	ErrBatchToken error = &logical.UserError{Kind: logical.ErrInvalidRequest,
		Msg: `cubbyhole operations are only supported by "service" type tokens`}
	// ErrNoData refuses a write without fields.
	ErrNoData error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing data fields"}
	// ErrNoPath refuses a read, write or delete of the cubbyhole's root.
	ErrNoPath error = &logical.UserError{Kind: logical.ErrInvalidRequest, Msg: "missing path"}

	// errBadOwner is a bug in the caller: an owner that is not a token hash.
	errBadOwner = errors.New("cubbyhole: owner must be a non-empty token hash without '/'")
)
