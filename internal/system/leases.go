package system

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/lease"
	"github.com/cofferhq/coffer/internal/logical"
)

// RevokeRequest says which leases to revoke and how: one lease or, with
// Prefix, every lease under ID taken as a path; synchronously or by marking
// them due for the expiry loop; with Force, deleting them even when their
// mount fails to revoke the secret.
type RevokeRequest struct {
	ID                  string
	Prefix, Sync, Force bool
}

// Leases is the lease manager as sys/leases/* and the legacy sys/renew and
// sys/revoke reach it. Errors for bad input are 400-class.
type Leases interface {
	// OwnsLease reports whether lease id exists and belongs to the token
	// that authenticated the request in ctx (for a batch token, to its
	// parent): callers without sudo look up and renew only their own.
	OwnsLease(ctx context.Context, id string) (bool, error)
	// LookupLease returns the lease, or nil when there is none.
	LookupLease(ctx context.Context, id string) (*lease.Info, error)
	RenewLease(ctx context.Context, id string, increment time.Duration) (*logical.Response, error)
	RevokeLeases(ctx context.Context, r RevokeRequest) error
	// ListLeases lists lease IDs under prefix as a storage listing does.
	ListLeases(ctx context.Context, prefix string) ([]string, error)
	// TidyLeases starts a tidy in the background; started is false when
	// one is already running.
	TidyLeases(ctx context.Context) (started bool, err error)
}

// LeaseFailures reports the leases whose revocation failed and is being
// retried (what Vault calls irrevocable).
type LeaseFailures interface {
	// FailedLeases returns up to limit of them (all when limit ≤ 0) and
	// whether more exist.
	FailedLeases(ctx context.Context, limit int) ([]lease.Failure, bool, error)
	// FailedLeaseCounts counts them, in all and by mount accessor.
	FailedLeaseCounts(ctx context.Context) (int, map[string]int, error)
}

// maxFailedLeases is how many failing leases sys/leases lists unless told
// otherwise, as Vault's 10,000.
const maxFailedLeases = 10000

// leaseIDFields are the fields of renew and revoke, which take the lease ID
// in the body or, for older clients, in the URL.
var leaseIDFields = map[string]*framework.FieldSchema{
	"lease_id":     {Type: framework.TypeString, Description: "The lease ID."},
	"url_lease_id": {Type: framework.TypeString, Description: "The lease ID, in the URL (older clients)."},
}

func withFields(base map[string]*framework.FieldSchema, more map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	out := make(map[string]*framework.FieldSchema, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func (b *backend) leasePaths() []*framework.Path {
	sync := map[string]*framework.FieldSchema{"sync": {Type: framework.TypeBool, Default: true, Description: "Revoke before answering (204) rather than queue the revocation (202)."}}
	failedFields := map[string]*framework.FieldSchema{
		"type":                     {Type: framework.TypeString},
		"include_child_namespaces": {Type: framework.TypeBool},
		"limit":                    {Type: framework.TypeString},
	}
	return []*framework.Path{
		{
			Pattern:    "leases/lookup/" + framework.MatchAllRegex("prefix"),
			Fields:     map[string]*framework.FieldSchema{"prefix": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ListOperation: b.listLeases},
			Help:       "List lease IDs under a prefix (sudo).",
		},
		{
			Pattern:    "leases/lookup",
			Fields:     map[string]*framework.FieldSchema{"lease_id": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.lookupLease},
			Help:       "Look up a lease's issue time, expiry, last renewal, TTL and renewability.",
		},
		{
			Pattern: "(leases/)?renew(/(?P<url_lease_id>.+))?",
			Fields: withFields(leaseIDFields, map[string]*framework.FieldSchema{
				"increment": {Type: framework.TypeDurationSecond, Description: "The TTL asked for."},
			}),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.renewLease},
			Help:       "Renew a lease, within its mount's and its secret's maximum TTL.",
		},
		{
			Pattern:    "(leases/)?revoke(/(?P<url_lease_id>.+))?",
			Fields:     withFields(leaseIDFields, sync),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.revokeLease},
			Help:       "Revoke a lease and its secret.",
		},
		{
			Pattern:    "(leases/)?revoke-prefix/(?P<prefix>.+)",
			Fields:     withFields(map[string]*framework.FieldSchema{"prefix": {Type: framework.TypeString}}, sync),
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.revokePrefix(false)},
			Help:       "Revoke every lease under a prefix (sudo).",
		},
		{
			Pattern:    "(leases/)?revoke-force/(?P<prefix>.+)",
			Fields:     map[string]*framework.FieldSchema{"prefix": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.revokePrefix(true)},
			Help:       "Delete every lease under a prefix even when its mount cannot revoke the secret (sudo): the way out when revocation keeps failing.",
		},
		{
			Pattern:    "leases/tidy",
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.tidyLeases},
			Help:       "Repair the lease indexes and revoke leases whose token is gone, in the background.",
		},
		{
			Pattern:    "leases/count",
			Fields:     failedFields,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.countFailedLeases},
			Help:       "Count the leases whose revocation failed and is being retried (type=irrevocable).",
		},
		{
			Pattern:    "leases",
			Fields:     failedFields,
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.listFailedLeases},
			Help:       "List the leases whose revocation failed and is being retried (type=irrevocable; sudo).",
		},
	}
}

// leaseSudoPaths are the lease paths that need sudo, as in Vault.
var leaseSudoPaths = []string{
	"revoke-prefix/*", "revoke-force/*", "leases/revoke-prefix/*", "leases/revoke-force/*", "leases/lookup/*", "leases",
}

func (b *backend) listLeases(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	keys, err := b.core.ListLeases(ctx, d.String("prefix"))
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"keys": keys}), nil
}

func (b *backend) lookupLease(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id := d.String("lease_id")
	if id == "" {
		return nil, logical.InvalidRequest("lease_id must be specified")
	}
	if ok, err := b.callerMay(ctx, req, id, false); !ok {
		if err == nil {
			err = logical.InvalidRequest("invalid lease")
		}
		return nil, err
	}
	info, err := b.core.LookupLease(ctx, id)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, logical.InvalidRequest("invalid lease")
	}
	data := map[string]any{
		"id": info.ID, "issue_time": info.IssueTime, "expire_time": nil, "last_renewal": nil,
		"ttl": int64(info.TTL / time.Second), "renewable": info.Renewable,
	}
	if !info.ExpireTime.IsZero() {
		data["expire_time"] = info.ExpireTime
	}
	if !info.LastRenewal.IsZero() {
		data["last_renewal"] = info.LastRenewal
	}
	return logical.DataResponse(data), nil
}

// callerMay reports whether the caller may look up or renew lease id: one
// with sudo on the path may touch any lease, and so may one whose policy
// granted the lease's own path (sys/leases/renew/<lease ID>, inURL);
// anyone else, such as a token with only the default policy, which grants
// the bare paths, only the leases their token obtained, as that policy
// promises (in Vault any token could renew, and so shorten, a lease of
// another's whose ID it learned). A lease of another's answers as a
// missing one does, so the check tells nothing about other leases.
func (b *backend) callerMay(ctx context.Context, req *logical.Request, id string, inURL bool) (bool, error) {
	if req.Sudo || inURL {
		return true, nil
	}
	return b.core.OwnsLease(ctx, id)
}

// leaseID reads the lease ID from the body, or from the URL. Both may be
// given only when they agree: a policy scoped by the URL (such as
// sys/revoke/database/creds/app/*) must not let the body name another
// lease.
func leaseID(d *framework.FieldData) (string, error) {
	id, url := d.String("lease_id"), d.String("url_lease_id")
	switch {
	case id == "":
		id = url
	case url != "" && url != id:
		return "", logical.InvalidRequest("the lease_id in the body (%q) differs from the one in the URL (%q): give it in one place", id, url)
	}
	if id == "" {
		return "", logical.InvalidRequest("lease_id must be specified")
	}
	return id, nil
}

func (b *backend) renewLease(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id, err := leaseID(d)
	if err != nil {
		return nil, err
	}
	if ok, err := b.callerMay(ctx, req, id, d.String("url_lease_id") != ""); !ok {
		if err == nil {
			err = lease.ErrNotFound
		}
		return nil, err
	}
	return b.core.RenewLease(ctx, id, d.Duration("increment"))
}

// accepted is Vault's answer to a revocation it queued: 202, no body.
func accepted() *logical.Response { return &logical.Response{Status: http.StatusAccepted} }

func (b *backend) revokeLease(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	id, err := leaseID(d)
	if err != nil {
		return nil, err
	}
	sync := d.Bool("sync")
	if err := b.core.RevokeLeases(ctx, RevokeRequest{ID: id, Sync: sync}); err != nil || sync {
		return nil, err
	}
	return accepted(), nil
}

func (b *backend) revokePrefix(force bool) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		sync := force || d.Bool("sync")
		r := RevokeRequest{ID: d.String("prefix"), Prefix: true, Sync: sync, Force: force}
		if err := b.core.RevokeLeases(ctx, r); err != nil || sync {
			return nil, err
		}
		return accepted(), nil
	}
}

func (b *backend) tidyLeases(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	started, err := b.core.TidyLeases(ctx)
	if err != nil {
		return nil, err
	}
	resp := &logical.Response{Status: http.StatusAccepted}
	if started {
		resp.AddWarning("Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs.")
	} else {
		resp.AddWarning("A tidy operation on leases is already running. Any information from it will be printed to Coffer's server logs.")
	}
	return resp, nil
}

// wantFailed reports whether a sys/leases request asks for the failing
// leases; Vault answers anything else with nothing (404).
func wantFailed(d *framework.FieldData) bool {
	return strings.EqualFold(d.String("type"), "irrevocable")
}

func (b *backend) countFailedLeases(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if !wantFailed(d) {
		return nil, nil
	}
	n, counts, err := b.core.FailedLeaseCounts(ctx)
	if err != nil {
		return nil, err
	}
	return logical.DataResponse(map[string]any{"lease_count": n, "counts": counts}), nil
}

func (b *backend) listFailedLeases(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if !wantFailed(d) {
		return nil, nil
	}
	limit := maxFailedLeases
	switch s := d.String("limit"); {
	case s == "":
	case strings.EqualFold(s, "none"):
		limit = 0
	default:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, logical.InvalidRequest("invalid 'limit' provided: %q is not a number", s)
		}
		if n < 1 {
			return nil, logical.InvalidRequest("limit must be 'none' or a positive integer")
		}
		limit = n
	}
	failed, more, err := b.core.FailedLeases(ctx, limit)
	if err != nil {
		return nil, err
	}
	leases := make([]map[string]any, len(failed))
	for i, f := range failed {
		leases[i] = map[string]any{
			"lease_id": f.ID, "mount_id": f.Accessor, "error": f.Error,
			"attempts": f.Attempts, "next_attempt": f.NextAttempt, "expire_time": f.ExpireTime,
		}
	}
	resp := logical.DataResponse(map[string]any{"lease_count": len(failed), "leases": leases})
	if more {
		resp.AddWarning("Command halted because many irrevocable leases were found. To emit the entire list, re-run the command with limit=none.")
	}
	return resp, nil
}
