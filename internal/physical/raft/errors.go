package raft

import "errors"

var (
	// ErrNotLeader is returned by writes on a node that is not the raft
	// leader. Forwarding to the leader is not implemented yet, so the write
	// is refused at once rather than left waiting.
	ErrNotLeader = errors.New("this node is not the raft leader; writes are accepted only on the leader")
	// ErrClosed is returned by operations after Close.
	ErrClosed = errors.New("raft storage is closed")
	// ErrNilEntry is returned when a write carries no entry.
	ErrNilEntry = errors.New("write has no entry")
	// ErrEmptyKey is returned for writes to the empty key.
	ErrEmptyKey = errors.New("key must not be empty")
	// ErrBadCommand means a log entry could not be decoded: it was not
	// written by this package, or by an incompatible version.
	ErrBadCommand = errors.New("raft log entry is not a storage command")
	// ErrBadSnapshot means a snapshot stream is truncated, corrupted or not a
	// Coffer raft snapshot; nothing was changed.
	ErrBadSnapshot = errors.New("snapshot is truncated, corrupted or not a coffer raft snapshot")
	// ErrSnapshotTooLarge means an uploaded snapshot, or the state it
	// unpacks to, is larger than Config.MaxSnapshotSize; nothing was changed.
	ErrSnapshotTooLarge = errors.New("snapshot is larger than the limit")
	// ErrRestoreUnconfirmed is returned by PreparedRestore.Apply when this
	// node's data was replaced but the restore is not known to have reached
	// the cluster: the node stopped leading before a majority confirmed it
	// (the error also wraps ErrNotLeader). Whatever depends on the data
	// must be reloaded, and the restore run again on the leader. Should the
	// new leader's log show the restore is not the cluster's, the node
	// drops it and rebuilds its data from raft by itself (resync.go).
	ErrRestoreUnconfirmed = errors.New("the snapshot was installed on this node, but the node stopped leading before the cluster confirmed the restore; run the restore again on the leader")
	// ErrConfig is wrapped by every refusal of a Config setting.
	ErrConfig = errors.New("invalid raft storage configuration")
)
