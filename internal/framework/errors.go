package framework

import "errors"

// ErrUnknownField is returned by FieldData.Get for a name the route did not
// declare: a programming error in the engine, not a user error.
var ErrUnknownField = errors.New("field not declared by the route")
