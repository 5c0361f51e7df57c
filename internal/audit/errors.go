package audit

import "errors"

// Sentinel errors. ErrInvalidConfig and ErrAPIDisabled wrap user errors
// (the sys/audit handlers map them to 400); ErrAllDevicesFailed is what a
// request gets when no enabled device recorded it.
var (
	// ErrInvalidConfig is a device configuration that cannot be used: an
	// unknown type or option, a bad value, a path already taken.
	ErrInvalidConfig = errors.New("invalid audit device configuration")
	// ErrNotFound is a path with no audit device.
	ErrNotFound = errors.New("no audit device at this path")
	// ErrAPIDisabled is an API change to audit devices on a server whose
	// configuration forbids it, or to a device the configuration declares.
	ErrAPIDisabled = errors.New("audit devices are managed in the server configuration")
	// ErrAllDevicesFailed means that no enabled device recorded an entry:
	// the request must not be served.
	ErrAllDevicesFailed = errors.New("no audit device could record the request")
)
