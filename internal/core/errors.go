package core

import "errors"

// errNoToken is wrapped into a permission-denied error when a request that
// needs a token carries none, to keep the log readable.
var errNoToken = errors.New("missing client token")
