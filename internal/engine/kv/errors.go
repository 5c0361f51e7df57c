package kv

import "errors"

// Internal errors. User errors are built with logical.InvalidRequest and
// logical.CodedError so that they carry their HTTP status; these sentinels
// are for conditions no request can cause or fix.
var (
	// ErrCorruptEntry reports a stored record that does not decode. It is an
	// internal error (500): the caller cannot fix it.
	ErrCorruptEntry = errors.New("kv: stored entry is corrupt")
	// ErrNoStorage reports a Factory call without a storage view: a bug in
	// the caller, not something a user can fix.
	ErrNoStorage = errors.New("kv: the mount has no storage")
)
