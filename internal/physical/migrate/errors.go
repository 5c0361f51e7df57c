package migrate

import "errors"

var (
	// ErrOrder means a backend listed keys out of byte order, which
	// would make a resumed copy skip keys; the copy stops instead.
	ErrOrder = errors.New("the storage listed keys out of order")
	// ErrMismatch means the destination does not hold what the source
	// holds: a key missing or extra, or (with values) different bytes.
	ErrMismatch = errors.New("the destination does not match the source")
)
