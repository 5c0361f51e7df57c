package physical

import "context"

// HABackend is implemented by storage that several servers share (raft,
// PostgreSQL with ha_enabled), to choose the one active server among them.
// A server campaigns for leadership once unsealed; while it holds it, it
// alone runs the writers of the cluster (expiry, revocations, rotations)
// and serves requests, and the others stand by and forward to it.
//
// The value a leader campaigns with is opaque here: the core passes a
// random ID under which it keeps its advertisement (its api_addr and
// cluster_addr) in the barrier, at core/leader/<value>, as Vault does.
// Implementations are safe for concurrent use.
type HABackend interface {
	// HAEnabled reports whether the backend was configured for HA; when
	// false the server is always active and never campaigns.
	HAEnabled() bool
	// Campaign blocks until this server holds leadership with value, or
	// ctx ends (then it returns ctx's error). It returns a channel that is
	// closed when leadership is lost for any reason: another server took
	// over, the holder could not renew in time, Resign, or Close. Only one
	// campaign runs at a time; a second Campaign while one is held fails.
	Campaign(ctx context.Context, value string) (lost <-chan struct{}, err error)
	// Resign gives leadership up when it is held, so another server can
	// take it; it does nothing otherwise. A server that resigned should
	// wait before it campaigns again, or it may simply win once more.
	Resign(ctx context.Context) error
	// LeaderValue returns the value of the current leader. held is false when no
	// server holds leadership now (an election is under way); an error
	// means the answer is unknown.
	LeaderValue(ctx context.Context) (value string, held bool, err error)
}

// HAReclaimer is an HABackend that keeps its leader's record in the data a
// snapshot restore replaces (raft). Reclaim records value as the current
// leader's again, without giving leadership up; it fails when this server
// does not lead. Safe for concurrent use.
type HAReclaimer interface {
	Reclaim(ctx context.Context, value string) error
}
