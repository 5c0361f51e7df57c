package config

import (
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/token"
)

// StorageRaft is integrated storage (internal/physical/raft).
const StorageRaft = "raft"

// maxPerformanceMultiplier is Vault's upper bound.
const maxPerformanceMultiplier = 10

// RaftStorage holds the settings of storage "raft"; zero values mean the
// backend's defaults.
type RaftStorage struct {
	// NodeID names this node; empty means one generated on first start
	// and kept in the data directory.
	NodeID string
	// PerformanceMultiplier scales raft's timing, 1 (fastest failover) to 10.
	PerformanceMultiplier int
	TrailingLogs          uint64
	SnapshotThreshold     uint64
	SnapshotInterval      time.Duration
	// MaxSnapshotSize bounds a snapshot restore's upload and the state it
	// unpacks to, in bytes; 0 means the backend's default (1 GiB).
	MaxSnapshotSize int64
	// RetryJoin are the retry_join blocks, in file order.
	RetryJoin []RetryJoin
}

// raftStorage reads storage "raft" (or a migration's raft block, named by
// where) in Vault's shape.
func (d *decoder) raftStorage(st Storage, where string, pos token.Pos, body *ast.ObjectType) (Storage, error) {
	var mult, trailing, threshold int64
	r := &st.Raft
	fields := map[string]func(ast.Node) error{
		"path":                   d.stringInto(&st.Path, "path"),
		"node_id":                d.stringInto(&r.NodeID, "node_id"),
		"performance_multiplier": d.intInto(&mult, "performance_multiplier"),
		"trailing_logs":          d.intInto(&trailing, "trailing_logs"),
		"snapshot_threshold":     d.intInto(&threshold, "snapshot_threshold"),
		"snapshot_interval":      d.durationInto(&r.SnapshotInterval, "snapshot_interval"),
		"max_snapshot_size":      d.intInto(&r.MaxSnapshotSize, "max_snapshot_size"),
	}
	body, err := d.splitRetryJoin(r, body)
	if err != nil {
		return Storage{}, err
	}
	seen, err := d.body(body, where, fields)
	if err != nil {
		return Storage{}, err
	}
	if st.Path == "" {
		return Storage{}, d.errorf(pos, ErrMissing, `%s needs path, the directory for the raft data`, where)
	}
	if p, ok := seen["performance_multiplier"]; ok && (mult < 1 || mult > maxPerformanceMultiplier) {
		return Storage{}, d.errorf(p, ErrInvalidValue, "performance_multiplier must be between 1 and %d, not %d", maxPerformanceMultiplier, mult)
	}
	if p, ok := seen["trailing_logs"]; ok && trailing < 1 {
		return Storage{}, d.errorf(p, ErrInvalidValue, "trailing_logs must be positive, not %d", trailing)
	}
	if p, ok := seen["snapshot_threshold"]; ok && threshold < 1 {
		return Storage{}, d.errorf(p, ErrInvalidValue, "snapshot_threshold must be positive, not %d", threshold)
	}
	if p, ok := seen["max_snapshot_size"]; ok && r.MaxSnapshotSize < 1 {
		return Storage{}, d.errorf(p, ErrInvalidValue, "max_snapshot_size must be a positive number of bytes, not %d", r.MaxSnapshotSize)
	}
	r.PerformanceMultiplier, r.TrailingLogs, r.SnapshotThreshold = int(mult), uint64(trailing), uint64(threshold)
	return st, nil
}
