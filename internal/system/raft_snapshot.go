package system

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/cofferhq/coffer/internal/autosnapshot"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// RaftSnapshots saves and restores integrated-storage snapshots; the core
// implements it (found by type assertion). Every method answers a
// logical.ErrInvalidRequest error ("raft storage is not in use") when
// storage is not raft, and logical.ErrSealed while sealed.
type RaftSnapshots interface {
	// RaftSnapshot returns the function that streams a consistent
	// snapshot archive.
	RaftSnapshot(ctx context.Context) (func(ctx context.Context, w io.Writer) error, error)
	// RestoreRaftSnapshot verifies the archive r completely and then
	// restores it; a bad archive, or without force one whose keys are not
	// this cluster's, is a logical.ErrInvalidRequest error and changes
	// nothing.
	RestoreRaftSnapshot(ctx context.Context, r io.Reader, force bool) error
	// AutoSnapshots returns the automated snapshot configurations.
	AutoSnapshots() (*autosnapshot.Manager, error)
}

// raftSnapshotSudoPaths need sudo, as Vault's snapshot endpoints do.
var raftSnapshotSudoPaths = []string{"storage/raft/snapshot", "storage/raft/snapshot-force", "storage/raft/snapshot-auto/*"}

var autoSnapshotFields = map[string]*framework.FieldSchema{
	"name":            {Type: framework.TypeString, Required: true, Description: "The configuration's name."},
	"interval":        {Type: framework.TypeDurationSecond, Description: "How often to take a snapshot (at least 1s)."},
	"retain":          {Type: framework.TypeInt, Default: 1, Description: "How many of the newest snapshots to keep."},
	"path_prefix":     {Type: framework.TypeString, Description: "The directory the files go to: absolute, outside the storage path, seal key and configuration, not a symbolic link, not writable by others; created 0700."},
	"file_prefix":     {Type: framework.TypeString, Default: autosnapshot.DefaultFilePrefix, Description: "The start of each file name."},
	"storage_type":    {Type: framework.TypeString, Description: `Where snapshots go: "local" (the only type).`},
	"local_max_space": {Type: framework.TypeInt, Description: "Required: the most bytes the kept files may take; a snapshot that would pass it is abandoned."},
}

func (b *backend) raftSnapshotPaths() []*framework.Path {
	name := framework.GenericNameRegex("name")
	return []*framework.Path{
		{
			Pattern: "storage/raft/snapshot",
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.readSnapshot, logical.UpdateOperation: b.restoreSnapshot(false),
			},
			Help: "GET streams a snapshot of integrated storage (barrier ciphertext with checksums); POST restores one taken on this cluster.",
		},
		{
			Pattern:    "storage/raft/snapshot-force",
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.restoreSnapshot(true)},
			Help:       "Restore a snapshot whatever cluster it was taken on; when its keys are not this cluster's the node seals and unseals with the snapshot's keys.",
		},
		{
			Pattern:    "storage/raft/snapshot-auto/config" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listAutoSnapshots},
		},
		{
			Pattern: "storage/raft/snapshot-auto/config/" + name,
			Fields:  autoSnapshotFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.readAutoSnapshot, logical.UpdateOperation: b.writeAutoSnapshot,
				logical.DeleteOperation: b.deleteAutoSnapshot,
			},
			Help: "An automated snapshot configuration: every interval the active node writes a snapshot into path_prefix and keeps the newest retain files.",
		},
		{
			Pattern:    "storage/raft/snapshot-auto/status/" + name,
			Fields:     map[string]*framework.FieldSchema{"name": autoSnapshotFields["name"]},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.readAutoSnapshotStatus},
			Help:       "The outcome of an automated snapshot configuration's last run.",
		},
	}
}

func (b *backend) raftSnapshots() (RaftSnapshots, error) {
	rs, ok := b.core.(RaftSnapshots)
	if !ok {
		return nil, logical.InvalidRequest("raft storage is not in use")
	}
	return rs, nil
}

func (b *backend) readSnapshot(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	rs, err := b.raftSnapshots()
	if err != nil {
		return nil, err
	}
	write, err := rs.RaftSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: logical.RawStream{ContentType: "application/octet-stream", Write: write}}, nil
}

func (b *backend) restoreSnapshot(force bool) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		rs, err := b.raftSnapshots()
		if err != nil {
			return nil, err
		}
		if req.Body == nil {
			return nil, logical.InvalidRequest("send the snapshot as the request body")
		}
		return nil, rs.RestoreRaftSnapshot(ctx, req.Body, force)
	}
}

func (b *backend) autoSnapshots() (*autosnapshot.Manager, error) {
	rs, err := b.raftSnapshots()
	if err != nil {
		return nil, err
	}
	return rs.AutoSnapshots()
}

func (b *backend) listAutoSnapshots(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	m, err := b.autoSnapshots()
	if err != nil {
		return nil, err
	}
	names, err := m.List(ctx)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": names}), nil
}

func (b *backend) readAutoSnapshot(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, err := b.autoSnapshots()
	if err != nil {
		return nil, err
	}
	c, found, err := m.Get(ctx, d.String("name"))
	if err != nil || !found {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"interval": int64(c.Interval.Seconds()), "retain": c.Retain, "path_prefix": c.PathPrefix,
		"file_prefix": c.FilePrefix, "storage_type": c.StorageType, "local_max_space": c.LocalMaxSpace,
	}), nil
}

// writeAutoSnapshot creates or replaces a configuration; on an update,
// fields not sent keep their values.
func (b *backend) writeAutoSnapshot(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, err := b.autoSnapshots()
	if err != nil {
		return nil, err
	}
	c, found, err := m.Get(ctx, d.String("name"))
	if err != nil {
		return nil, err
	}
	set := func(field string, apply func()) {
		if _, sent := d.GetOk(field); sent || !found {
			apply()
		}
	}
	set("interval", func() { c.Interval = d.Duration("interval") })
	set("retain", func() { c.Retain = d.Int("retain") })
	set("path_prefix", func() { c.PathPrefix = strings.TrimSpace(d.String("path_prefix")) })
	set("file_prefix", func() { c.FilePrefix = d.String("file_prefix") })
	set("storage_type", func() { c.StorageType = d.String("storage_type") })
	set("local_max_space", func() { c.LocalMaxSpace = int64(d.Int("local_max_space")) })
	if err := m.Put(ctx, c); err != nil {
		if errors.Is(err, autosnapshot.ErrInvalidConfig) {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
		return nil, err
	}
	return nil, nil
}

func (b *backend) deleteAutoSnapshot(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, err := b.autoSnapshots()
	if err != nil {
		return nil, err
	}
	return nil, m.Delete(ctx, d.String("name"))
}

func (b *backend) readAutoSnapshotStatus(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	m, err := b.autoSnapshots()
	if err != nil {
		return nil, err
	}
	st, found, err := m.Status(ctx, d.String("name"))
	if err != nil || !found {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"consecutive_errors": st.ConsecutiveErrors, "last_snapshot_start": st.LastSnapshotStart,
		"last_snapshot_end": st.LastSnapshotEnd, "last_snapshot_error": st.LastSnapshotError,
		"last_snapshot_url": st.LastSnapshotURL, "next_snapshot_start": st.NextSnapshotStart,
	}), nil
}
