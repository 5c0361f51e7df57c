package database

import "errors"

// Internal errors: conditions no request can cause or fix. User errors are
// built with logical.InvalidRequest and logical.CodedError.
var (
	// ErrNoStorage reports a Factory call without a storage view.
	ErrNoStorage = errors.New("database: the mount has no storage")
)
