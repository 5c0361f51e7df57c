package system

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/lockout"
	"github.com/cofferhq/coffer/internal/logical"
)

// rootNamespace is how Vault names the only namespace Coffer has.
const rootNamespace = "root"

func (b *backend) lockedUserPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    "locked-users" + framework.OptionalTrailingSlash,
			Fields:     map[string]*framework.FieldSchema{"mount_accessor": {Type: framework.TypeString, Description: "Only the users locked on this auth mount."}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.listLockedUsers},
			Help:       "The users user lockout has locked, by auth mount accessor.",
		},
		{
			Pattern: "locked-users/(?P<mount_accessor>[^/]+)/unlock/(?P<alias_identifier>.+)",
			Fields: map[string]*framework.FieldSchema{
				"mount_accessor":   {Type: framework.TypeString, Required: true},
				"alias_identifier": {Type: framework.TypeString, Required: true},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.unlockUser},
			Help:       "Unlock a user (the alias: a userpass user name, an AppRole role ID) on an auth mount; succeeds when it is not locked.",
		},
	}
}

// listLockedUsers answers in Vault's shape: one entry for the root
// namespace, its mounts by decreasing count, and the total.
func (b *backend) listLockedUsers(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	accessor := d.String("mount_accessor")
	locked, err := b.core.ListLockedUsers(ctx, accessor)
	if err != nil {
		return nil, err
	}
	if accessor != "" && locked[accessor] == nil {
		// Vault names the mount asked about even when nothing is locked.
		locked[accessor] = []string{}
	}
	type mountCount struct {
		accessor string
		aliases  []string
	}
	var mounts []mountCount
	for acc, aliases := range locked {
		slices.Sort(aliases)
		mounts = append(mounts, mountCount{acc, aliases})
	}
	slices.SortFunc(mounts, func(x, y mountCount) int {
		return cmp.Or(cmp.Compare(len(y.aliases), len(x.aliases)), cmp.Compare(x.accessor, y.accessor))
	})
	total := 0
	byMount := make([]map[string]any, 0, len(mounts))
	for _, m := range mounts {
		total += len(m.aliases)
		byMount = append(byMount, map[string]any{"mount_accessor": m.accessor, "counts": len(m.aliases), "alias_identifiers": m.aliases})
	}
	return logical.DataResponse(map[string]any{
		"by_namespace": []map[string]any{{
			"namespace_id": rootNamespace, "namespace_path": "", "counts": total, "mount_accessors": byMount,
		}},
		"total": total,
	}), nil
}

func (b *backend) unlockUser(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	accessor, alias := d.String("mount_accessor"), d.String("alias_identifier")
	if accessor == "." || accessor == ".." {
		return nil, logical.InvalidRequest("mount_accessor %q is not an accessor", accessor)
	}
	return nil, b.core.UnlockUser(ctx, accessor, alias)
}

// setUserLockout applies a user_lockout_config object (Vault's keys:
// lockout_threshold, lockout_duration, lockout_counter_reset_duration,
// lockout_disable) over the mount's settings, refusing it on auth methods
// user lockout does not apply to, as Vault does.
func setUserLockout(m *MountInfo, raw any) error {
	obj, ok := raw.(map[string]any)
	if !ok {
		return logical.InvalidRequest("field \"user_lockout_config\": expected an object")
	}
	if len(obj) == 0 {
		return nil
	}
	if !lockout.Supported(strings.ToLower(m.Type)) {
		return logical.InvalidRequest("tuning of user lockout configuration for auth type %q not allowed", m.Type)
	}
	var cur lockout.Settings
	if m.UserLockout != nil {
		cur = *m.UserLockout
	}
	next, err := lockout.ParseTune(cur, obj)
	if err != nil {
		return err
	}
	m.UserLockout = &next
	return nil
}

// reportUserLockout shows a tuned lockout in a mount's config object, as
// Vault's sys/auth does.
func reportUserLockout(m MountInfo, out map[string]any) {
	if m.UserLockout != nil {
		out["user_lockout_config"] = m.UserLockout.TuneView()
	}
}

// flattenUserLockout moves the lockout settings to the top level of a tune
// read, where Vault reports them (user_lockout_threshold and the rest).
func flattenUserLockout(m MountInfo, data map[string]any) {
	if m.UserLockout != nil {
		delete(data, "user_lockout_config")
		maps.Copy(data, m.UserLockout.TuneView())
	}
}
