package system

import (
	"context"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/quota"
)

var quotaFields = map[string]*framework.FieldSchema{
	"name": {Type: framework.TypeString},
	"type": {Type: framework.TypeString},
	"path": {Type: framework.TypeString},
	// rate is a float, which the framework has no type for: quota.ParseRate
	// reads it so that "fast" or 0 is a 400 that names the field.
	"rate":           {Type: framework.TypeRaw},
	"interval":       {Type: framework.TypeDurationSecond},
	"block_interval": {Type: framework.TypeDurationSecond},
	"role":           {Type: framework.TypeString},
	"inheritable":    {Type: framework.TypeBool},
}

func (b *backend) quotaPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: "quotas/config",
			Fields: map[string]*framework.FieldSchema{
				"rate_limit_exempt_paths":            {Type: framework.TypeStringSlice},
				"enable_rate_limit_response_headers": {Type: framework.TypeBool},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readQuotaConfig,
				logical.UpdateOperation: b.writeQuotaConfig,
			},
			Help: "Paths exempt from every rate-limit quota (Vault's defaults until written; the quota endpoints and the pre-auth sys/ paths are never limited), and whether responses carry X-Ratelimit-* headers.",
		},
		{
			Pattern:    "quotas/rate-limit" + framework.OptionalTrailingSlash,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listQuotas},
		},
		{
			Pattern: "quotas/rate-limit/" + framework.MatchAllRegex("name"),
			Fields:  quotaFields,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation:   b.readQuota,
				logical.UpdateOperation: b.writeQuota,
				logical.DeleteOperation: b.deleteQuota,
			},
			Help: "A rate-limit quota: at most 'rate' requests per 'interval' from each client address to 'path'.",
		},
		{
			// Vault's other quota type (lease-count) is Enterprise-only:
			// say so instead of a bare 404.
			Pattern: `quotas/(?P<type>[^/]+)(/.*)?`,
			Fields:  map[string]*framework.FieldSchema{"type": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.unknownQuotaType, logical.UpdateOperation: b.unknownQuotaType,
				logical.DeleteOperation: b.unknownQuotaType, logical.ListOperation: b.unknownQuotaType,
			},
		},
	}
}

func (b *backend) unknownQuotaType(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, logical.InvalidRequest("unsupported quota type %q: only %q is supported", d.String("type"), quota.TypeRateLimit)
}

func (b *backend) listQuotas(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := b.core.ListQuotas(ctx)
	if err != nil || len(names) == 0 {
		// No keys is a 404, as Vault answers an empty LIST.
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": names}), nil
}

func (b *backend) readQuota(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	q, found, err := b.core.GetQuota(ctx, d.String("name"))
	if err != nil || !found {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"name": q.Name, "type": q.Type, "path": q.Path, "rate": q.Rate, "role": "", "inheritable": q.Inheritable,
		"interval": seconds(q.Interval), "block_interval": seconds(q.BlockInterval),
	}), nil
}

// writeQuota creates a quota, or changes the fields a request sets on an
// existing one, as Vault does.
func (b *backend) writeQuota(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if t := d.String("type"); t != "" && t != quota.TypeRateLimit {
		return nil, logical.InvalidRequest("unsupported quota type %q: only %q is supported", t, quota.TypeRateLimit)
	}
	if d.String("role") != "" {
		return nil, logical.InvalidRequest("'role' is not supported: rate-limit quotas apply per client address")
	}
	q, found, err := b.core.GetQuota(ctx, d.String("name"))
	if err != nil {
		return nil, err
	}
	if !found {
		q = quota.Quota{Name: d.String("name")}
	}
	if raw, ok := d.GetOk("rate"); ok {
		if q.Rate, err = quota.ParseRate(raw); err != nil {
			return nil, err
		}
	} else if !found {
		return nil, logical.InvalidRequest("missing 'rate': the number of requests allowed per interval")
	}
	if v, ok := d.GetOk("interval"); ok {
		q.Interval = v.(time.Duration)
	}
	if v, ok := d.GetOk("block_interval"); ok {
		q.BlockInterval = v.(time.Duration)
	}
	if v, ok := d.GetOk("path"); ok {
		if q.Path, err = b.quotaPath(v.(string)); err != nil {
			return nil, err
		}
	}
	var inheritable *bool
	if v, ok := d.GetOk("inheritable"); ok {
		set := v.(bool)
		inheritable = &set
	}
	if err := quota.CheckInheritable(q.Path, inheritable); err != nil {
		return nil, err
	}
	return nil, b.core.PutQuota(ctx, q)
}

// quotaPath checks that a quota path names a mount, and returns it in the
// form the quota package reads: "" (global), the mount path with its
// trailing slash, a sub-path without one, or a prefix ending in "*".
func (b *backend) quotaPath(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", nil
	}
	clean, err := logical.CleanPath(p)
	if err != nil {
		return "", logical.InvalidRequest("invalid path %q: %v", p, err)
	}
	base, glob := strings.CutSuffix(clean, "*")
	m, ok := b.core.MountFor(base)
	if !ok || (glob && !strings.HasPrefix(base, m.Path)) {
		return "", logical.InvalidRequest("invalid path %q: no secrets engine or auth method is mounted there", p)
	}
	switch {
	case glob:
		return clean, nil
	case base == m.Path || base+"/" == m.Path:
		return m.Path, nil
	}
	return strings.TrimSuffix(clean, "/"), nil
}

func (b *backend) deleteQuota(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, b.core.DeleteQuota(ctx, d.String("name"))
}

func (b *backend) readQuotaConfig(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := b.core.QuotaConfig(ctx)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{
		"rate_limit_exempt_paths":            c.ExemptPaths,
		"enable_rate_limit_response_headers": c.ResponseHeaders,
		"enable_rate_limit_audit_logging":    false,
	}), nil
}

func (b *backend) writeQuotaConfig(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c, err := b.core.QuotaConfig(ctx)
	if err != nil {
		return nil, err
	}
	if v, ok := d.GetOk("rate_limit_exempt_paths"); ok {
		c.ExemptPaths = v.([]string)
	}
	if v, ok := d.GetOk("enable_rate_limit_response_headers"); ok {
		c.ResponseHeaders = v.(bool)
	}
	return nil, b.core.SetQuotaConfig(ctx, c)
}
