package system

import (
	"context"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) remountPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "remount",
			Fields: map[string]*framework.FieldSchema{
				"from": {Type: framework.TypeString, Description: "The mount to move, such as secret or auth/userpass."},
				"to":   {Type: framework.TypeString, Description: "Where to move it."},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.remount},
			Help:       "Move a secrets engine or an auth method, with its data, to another path (needs sudo).",
		},
		{
			Pattern:    "remount/status/" + framework.MatchAllRegex("migration_id"),
			Fields:     map[string]*framework.FieldSchema{"migration_id": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.remountStatus},
			Help:       "The state of a mount move: in-progress, success or failure.",
		},
	}
}

func (b *backend) remount(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id, err := b.core.Remount(ctx, d.String("from"), d.String("to"))
	if err != nil {
		return nil, err
	}
	resp := logical.DataResponse(map[string]any{"migration_id": id})
	resp.AddWarning("Mount move has been queued. Progress will be reported in Coffer's server log, tagged with the returned migration_id")
	return resp, nil
}

func (b *backend) remountStatus(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.String("migration_id")
	if id == "" {
		return nil, logical.InvalidRequest("migrationID must be specified")
	}
	info, found := b.core.RemountStatus(id)
	if !found {
		return nil, nil
	}
	return logical.DataResponse(map[string]any{
		"migration_id": id,
		"migration_info": map[string]any{
			"source_mount": info.SourceMount, "target_mount": info.TargetMount, "status": info.Status,
		},
	}), nil
}
