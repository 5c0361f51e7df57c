package kv

import "errors"

// Internal errors. User errors are built with logical.InvalidRequest and
// logical.CodedError so that they carry their HTTP status; these sentinels
// are for the conditions that mean stored data is not what the engine wrote.
var (
	// ErrCorruptEntry reports a stored record that does not decode. It is an
	// internal error (500): the caller cannot fix it.
	ErrCorruptEntry = errors.New("kv: stored entry is corrupt")
)
