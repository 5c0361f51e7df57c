package approle

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/tokenutil"
)

// roleEntry is one stored role. The token settings are tokenutil's.
type roleEntry struct {
	// RoleID is the half of the credential a machine may hold openly.
	RoleID             string        `json:"role_id"`
	BindSecretID       bool          `json:"bind_secret_id"`
	SecretIDBoundCIDRs []string      `json:"secret_id_bound_cidrs,omitempty"`
	SecretIDNumUses    int           `json:"secret_id_num_uses,omitempty"`
	SecretIDTTL        time.Duration `json:"secret_id_ttl,omitempty"`
	// LocalSecretIDs is kept and reported for Vault's clients; a Coffer
	// cluster has no replication to keep secret IDs out of.
	LocalSecretIDs bool `json:"local_secret_ids,omitempty"`
	tokenutil.Params
}

// describe is the read view of r, as Vault reports a role.
func (r *roleEntry) describe() map[string]any {
	cidrs := r.SecretIDBoundCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	m := map[string]any{
		"bind_secret_id":        r.BindSecretID,
		"secret_id_bound_cidrs": cidrs,
		"secret_id_num_uses":    r.SecretIDNumUses,
		"secret_id_ttl":         int64(r.SecretIDTTL / time.Second),
		"local_secret_ids":      r.LocalSecretIDs,
	}
	r.Params.Describe(m)
	return m
}

// constrained reports whether a login with r is checked by something more
// than the role ID.
func (r *roleEntry) constrained() bool {
	return r.BindSecretID || len(r.SecretIDBoundCIDRs) > 0 || len(r.BoundCIDRs) > 0
}

// roleFields are the fields of role/<name>: the role's own, and the token
// fields with their older names.
func roleFields() map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"role_name": roleNameField(),
		"bind_secret_id": {Type: framework.TypeBool, Default: true,
			Description: "Require a secret_id at login; true by default."},
		"secret_id_bound_cidrs": {Type: framework.TypeStringSlice, Aliases: []string{"bound_cidr_list"},
			Description: "IP addresses or CIDR blocks logins with this role may come from."},
		"secret_id_num_uses": {Type: framework.TypeInt,
			Description: "Logins each secret ID admits; 0 means unlimited."},
		"secret_id_ttl": {Type: framework.TypeDurationSecond,
			Description: "How long each secret ID lives, capped by the mount's maximum TTL; 0 means it does not expire."},
		"role_id": {Type: framework.TypeString,
			Description: "The role's identifier; a random UUID when the role is created without one."},
		"local_secret_ids": {Type: framework.TypeBool,
			Description: "Keep secret IDs local to the cluster; only settable when the role is created."},
	}
	tokenutil.AddFields(f)
	return f
}

func roleNameField() *framework.FieldSchema {
	return &framework.FieldSchema{Type: framework.TypeString, Description: "Name of the role; lower case."}
}

// canonicalName accepts a role name in a path only when it is lower case
// and not too long: rewriting "WEB" to "web" after authorisation would let
// a caller reach a role the policy denies by respelling its name.
func canonicalName(name string) (string, error) {
	if len(name) > maxInputLength {
		return "", logical.InvalidRequest("role_name is longer than maximum of %d bytes", maxInputLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return "", logical.InvalidRequest("role names are lower case in role paths: use %q", lower(name))
		}
	}
	return name, nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// getOk is FieldData.GetOk for a field the route may not declare (the
// per-field routes declare one).
func getOk(d *framework.FieldData, name string) (any, bool) {
	if !d.Declared(name) {
		return nil, false
	}
	return d.GetOk(name)
}

// apply sets on r the fields d carries, validating the result as a whole;
// create says r is new (defaults apply, local_secret_ids may be set). r is
// left untouched on error. maxTTL is the mount's maximum lease TTL. It
// returns warnings for the caller.
func (r *roleEntry) apply(d *framework.FieldData, create bool, maxTTL time.Duration) ([]string, error) {
	q := *r
	if err := q.Params.Parse(d); err != nil {
		return nil, err
	}
	var warnings []string
	switch q.Type {
	case tokenutil.TypeDefaultService:
		q.Type = tokenutil.TypeService
		warnings = append(warnings, "default-service has no useful meaning; adjusting to service")
	case tokenutil.TypeDefaultBatch:
		q.Type = tokenutil.TypeBatch
		warnings = append(warnings, "default-batch has no useful meaning; adjusting to batch")
	}
	if v, ok := getOk(d, "local_secret_ids"); ok {
		if !create {
			return nil, logical.InvalidRequest("local_secret_ids can only be modified during role creation")
		}
		q.LocalSecretIDs = v.(bool)
	}
	if err := q.applyRoleID(d, create); err != nil {
		return nil, err
	}
	if v, ok := getOk(d, "bind_secret_id"); ok {
		q.BindSecretID = v.(bool)
	} else if create {
		q.BindSecretID = true
	}
	if v, ok := getOk(d, "secret_id_bound_cidrs"); ok {
		cidrs, err := parseCIDRs("secret_id_bound_cidrs", v.([]string))
		if err != nil {
			return nil, err
		}
		q.SecretIDBoundCIDRs = cidrs
	}
	if v, ok := getOk(d, "secret_id_num_uses"); ok {
		if q.SecretIDNumUses = v.(int); q.SecretIDNumUses < 0 {
			return nil, logical.InvalidRequest("secret_id_num_uses cannot be negative")
		}
	}
	if v, ok := getOk(d, "secret_id_ttl"); ok {
		q.SecretIDTTL = v.(time.Duration)
	}
	if maxTTL > 0 && q.Period > maxTTL {
		return nil, logical.InvalidRequest("period of %q is greater than the backend's maximum lease TTL of %q", q.Period, maxTTL)
	}
	if maxTTL > 0 && q.MaxTTL > maxTTL {
		warnings = append(warnings, "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max TTL value will be truncated")
	}
	if !q.constrained() {
		return nil, ErrNoConstraint
	}
	*r = q
	return warnings, nil
}

func (r *roleEntry) applyRoleID(d *framework.FieldData, create bool) error {
	v, ok := getOk(d, "role_id")
	switch {
	case ok:
		r.RoleID = v.(string)
	case create:
		r.RoleID = uuid.NewString()
	}
	switch {
	case r.RoleID == "":
		return logical.InvalidRequest("invalid role_id supplied, or failed to generate a role_id")
	case len(r.RoleID) > maxInputLength:
		return logical.InvalidRequest("role_id is longer than maximum of %d bytes", maxInputLength)
	}
	return nil
}

// parseCIDRs validates IP addresses and CIDR blocks and returns them as
// masked blocks; empty entries are dropped. An invalid entry is a 400
// naming field and the entry.
func parseCIDRs(field string, in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, logical.InvalidRequest("%s: %q is neither an IP address nor a CIDR block", field, s)
		}
		out = append(out, p.String())
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// cidrSubset reports whether every block of sub lies inside a block of
// super; an empty super allows anything. Both hold valid blocks.
func cidrSubset(sub, super []string) bool {
	if len(super) == 0 {
		return true
	}
	for _, s := range sub {
		p, err := parsePrefix(s)
		if err != nil {
			return false
		}
		inside := false
		for _, t := range super {
			q, err := parsePrefix(t)
			if err == nil && q.Addr().Is4() == p.Addr().Is4() && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}

// loadRole returns the named role, or nil.
func (b *backend) loadRole(ctx context.Context, name string) (*roleEntry, error) {
	var r roleEntry
	found, err := logical.GetJSON(ctx, b.storage, rolePrefix+name, &r)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

// roleByID finds the role whose role ID is roleID, through the index, and
// checks in constant time that the role still has it. It returns "", nil,
// nil when there is none.
func (b *backend) roleByID(ctx context.Context, roleID string) (string, *roleEntry, error) {
	if roleID == "" || len(roleID) > maxInputLength {
		return "", nil, nil
	}
	e, err := b.storage.Get(ctx, roleIDPrefix+b.secrets.mac(roleID))
	if err != nil {
		return "", nil, fmt.Errorf("read role_id index: %w", err)
	}
	if e == nil {
		return "", nil, nil
	}
	name := string(e.Value)
	r, err := b.loadRole(ctx, name)
	if err != nil || r == nil {
		return "", nil, err
	}
	if subtle.ConstantTimeCompare([]byte(r.RoleID), []byte(roleID)) != 1 {
		return "", nil, nil
	}
	return name, r, nil
}

// saveRole stores r under name with its role_id index, moving the index
// when the role ID changed from oldID, all in one transaction. It refuses
// a role ID another role has. The caller holds roleMu for writing.
func (b *backend) saveRole(ctx context.Context, name, oldID string, r *roleEntry) error {
	newKey := roleIDPrefix + b.secrets.mac(r.RoleID)
	owner, err := b.storage.Get(ctx, newKey)
	if err != nil {
		return fmt.Errorf("read role_id index: %w", err)
	}
	if owner != nil && string(owner.Value) != name {
		return ErrRoleIDInUse
	}
	ent, err := logical.JSONEntry(rolePrefix+name, r)
	if err != nil {
		return err
	}
	ops := []logical.TxnOp{{Entry: ent}, {Entry: &logical.StorageEntry{Key: newKey, Value: []byte(name)}}}
	if oldID != "" && oldID != r.RoleID {
		ops = append(ops, logical.TxnOp{Delete: true, Entry: &logical.StorageEntry{Key: roleIDPrefix + b.secrets.mac(oldID)}})
	}
	if err := logical.ApplyTxn(ctx, b.storage, ops); err != nil {
		return fmt.Errorf("store role %q: %w", name, err)
	}
	return nil
}
