// Package lease is the lease manager: it records every leased secret an
// engine hands out (a dynamic database login, say), renews it on request
// within the limits of its mount, and revokes it when it expires, when the
// token that obtained it is revoked, when its mount is disabled, or when an
// operator asks, by sending the issuing mount a logical.RevokeOperation
// request. A revocation that fails is retried with capped exponential
// backoff and jitter until it succeeds or an operator forces it; it is
// never dropped.
//
// Leases live in storage inside the barrier: one entry per lease (with the
// engine's InternalData, which never leaves the barrier), an index from each
// token to its leases, and an expiry index whose key names carry everything
// the expiry queue needs, so that the in-memory queue is rebuilt from one
// key listing on unseal and costs about a hundred bytes per lease. Nothing
// else about a lease is kept in memory.
//
// The package does not authorise requests, route them or compute token
// lifetimes: the core registers leased responses after the backend answers
// and gives the manager a Mounts to reach backends through.
package lease
