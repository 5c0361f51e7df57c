package approle

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// roleField is one of Vault's per-field routes, role/<name>/<seg>: a read
// of one setting, an update of it alone and a delete that restores its
// default.
type roleField struct {
	seg string
	// field is the role field the route sets (declared with its older
	// names); as, when set, is the name a read reports it under instead.
	field, as string
	// reset restores the default.
	reset func(r *roleEntry)
}

var roleFieldRoutes = []roleField{
	{seg: "policies", field: "token_policies", reset: func(r *roleEntry) { r.Policies = nil; delete(r.Legacy, "token_policies") }},
	{seg: "secret-id-num-uses", field: "secret_id_num_uses", reset: func(r *roleEntry) { r.SecretIDNumUses = 0 }},
	{seg: "secret-id-ttl", field: "secret_id_ttl", reset: func(r *roleEntry) { r.SecretIDTTL = 0 }},
	{seg: "token-ttl", field: "token_ttl", reset: func(r *roleEntry) { r.TTL = 0 }},
	{seg: "token-max-ttl", field: "token_max_ttl", reset: func(r *roleEntry) { r.MaxTTL = 0 }},
	{seg: "token-num-uses", field: "token_num_uses", reset: func(r *roleEntry) { r.NumUses = 0 }},
	{seg: "bind-secret-id", field: "bind_secret_id", reset: func(r *roleEntry) { r.BindSecretID = true }},
	{seg: "secret-id-bound-cidrs", field: "secret_id_bound_cidrs", reset: func(r *roleEntry) { r.SecretIDBoundCIDRs = nil }},
	{seg: "bound-cidr-list", field: "secret_id_bound_cidrs", as: "bound_cidr_list", reset: func(r *roleEntry) { r.SecretIDBoundCIDRs = nil }},
	{seg: "token-bound-cidrs", field: "token_bound_cidrs", reset: func(r *roleEntry) { r.BoundCIDRs = nil }},
	{seg: "period", field: "token_period", reset: func(r *roleEntry) { r.Period = 0; delete(r.Legacy, "token_period") }},
}

func (b *backend) roleFieldPaths() []*framework.Path {
	all := roleFields()
	paths := make([]*framework.Path, 0, len(roleFieldRoutes)+1)
	for _, rf := range roleFieldRoutes {
		fields := map[string]*framework.FieldSchema{"role_name": roleNameField(), rf.field: all[rf.field]}
		if rf.as != "" {
			// The route's own name is the one it is written under too.
			s := *all[rf.field]
			s.Aliases = []string{rf.as}
			fields[rf.field] = &s
		}
		paths = append(paths, &framework.Path{
			Pattern: "role/" + framework.GenericNameRegex("role_name") + "/" + rf.seg + framework.OptionalTrailingSlash,
			Fields:  fields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readRoleField(rf),
				logical.UpdateOperation: b.writeRoleField(rf),
				logical.DeleteOperation: b.deleteRoleField(rf),
			},
			Help: "Read, set or reset the role's " + rf.field + ".",
		})
	}
	paths = append(paths, &framework.Path{
		Pattern:    "role/" + framework.GenericNameRegex("role_name") + "/local-secret-ids" + framework.OptionalTrailingSlash,
		Fields:     map[string]*framework.FieldSchema{"role_name": roleNameField()},
		Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.readRoleField(roleField{field: "local_secret_ids"})},
		Help:       "Read whether the role's secret IDs are local to the cluster.",
	})
	return paths
}

func (b *backend) readRoleField(rf roleField) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		name, err := roleName(d)
		if err != nil {
			return nil, err
		}
		r, err := b.loadRole(ctx, name)
		if err != nil || r == nil {
			return nil, err
		}
		all := r.describe()
		out := map[string]any{}
		switch {
		case rf.as != "":
			out[rf.as] = all[rf.field]
		default:
			out[rf.field] = all[rf.field]
			// An older name the field was written under is reported too,
			// as the whole-role read does.
			for _, old := range tokenutil.LegacyNames()[rf.field] {
				if v, ok := all[old]; ok {
					out[old] = v
				}
			}
		}
		return logical.DataResponse(out), nil
	}
}

func (b *backend) writeRoleField(rf roleField) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if _, ok := d.GetOk(rf.field); !ok {
			name := rf.field
			if rf.as != "" {
				name = rf.as
			}
			return nil, logical.InvalidRequest("missing %s", name)
		}
		return b.updateRole(ctx, d, func(r *roleEntry) ([]string, error) {
			return r.apply(d, false, b.maxTTL())
		})
	}
}

func (b *backend) deleteRoleField(rf roleField) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		return b.updateRole(ctx, d, func(r *roleEntry) ([]string, error) {
			q := *r
			rf.reset(&q)
			if len(q.Legacy) == 0 {
				q.Legacy = nil
			}
			if !q.constrained() {
				return nil, ErrNoConstraint
			}
			*r = q
			return nil, nil
		})
	}
}

// roleIDPaths serve role/<name>/role-id: read the role ID, or set a custom
// one (refused when another role of the mount has it).
func (b *backend) roleIDPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "role/" + framework.GenericNameRegex("role_name") + "/role-id" + framework.OptionalTrailingSlash,
		Fields: map[string]*framework.FieldSchema{
			"role_name": roleNameField(),
			"role_id":   {Type: framework.TypeString, Description: "The role ID to set."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation:   b.readRoleID,
			logical.UpdateOperation: b.writeRoleID,
		},
		Help: "Read the role's role ID, or set a custom one.",
	}}
}

func (b *backend) readRoleID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, err := roleName(d)
	if err != nil {
		return nil, err
	}
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"role_id": r.RoleID}), nil
}

func (b *backend) writeRoleID(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if d.String("role_id") == "" {
		return nil, logical.InvalidRequest("missing role_id")
	}
	return b.updateRole(ctx, d, func(r *roleEntry) ([]string, error) {
		q := *r
		if err := q.applyRoleID(d, false); err != nil {
			return nil, err
		}
		*r = q
		return nil, nil
	})
}

// ttlSeconds renders a duration as Vault's whole seconds.
func ttlSeconds(d time.Duration) int64 { return int64(d / time.Second) }
