package cluster

import "errors"

var (
	// ErrNoKeyring is returned by Dial, and fails every inbound
	// handshake, until SetKeyring has been called: the node is sealed or
	// not yet a member.
	ErrNoKeyring = errors.New("cluster TLS is not ready: the node is sealed or has not joined a cluster")
	// ErrBadKeyring means a stored or received keyring does not hold a
	// usable ECDSA key and certificate.
	ErrBadKeyring = errors.New("cluster TLS keyring is not valid")
	// ErrClosed is returned by a protocol listener's Accept after Close.
	ErrClosed = errors.New("cluster listener is closed")
	// errBusy marks a join call the member refused with 429 (its join
	// rate limit); call retries it.
	errBusy = errors.New("the member is rate-limiting join requests")
)
