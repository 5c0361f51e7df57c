package framework

import "errors"

// ErrUnknownField is returned by FieldData.Get for a name the route did not
// declare: a programming error in the engine, not a user error.
var ErrUnknownField = errors.New("field not declared by the route")

// errNotScalar is why a policy value cannot compare with an object field.
var errNotScalar = errors.New("an object field compares with no policy value")
