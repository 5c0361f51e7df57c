package framework

import (
	"context"
	"maps"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// SecretFunc renews or revokes one leased secret. req.Secret is the secret
// as issued (with its InternalData, IssueTime, LastRenewalTime and, on a
// renewal, Increment), req.Path the path that issued it (relative to the
// mount) and req.Storage the mount's view; there is no token.
//
// A renewal returns a Response whose Secret carries the engine's TTL and
// MaxTTL: as in Vault, a non-zero Increment is what the lease gets, the
// TTL only when there is none, and the lease manager caps either by MaxTTL
// (counted from IssueTime), the mount's max_lease_ttl and the server's. A
// non-nil Secret.InternalData replaces the lease's. A revocation returns
// nil, nil when done.
//
// An error keeps the lease: a failed revocation is retried with capped
// exponential backoff until it succeeds or an operator forces it, so
// Revoke must be idempotent (a secret already gone is success: a crash
// between the revocation and the lease's deletion sends it again). A
// logical.UserError's Kind decides the status sys/leases/revoke answers
// with (logical.ErrUpstream: 502); its message reaches the operator and
// the log, so it must hold no secret. InternalData comes back as it was
// stored, through JSON: numbers arrive as json.Number.
type SecretFunc func(ctx context.Context, req *logical.Request) (*logical.Response, error)

// Secret is one kind of leased secret an engine hands out, such as a
// dynamic database login. The lease manager finds it again by Type.
type Secret struct {
	// Type names the kind; unique within a backend.
	Type string
	// DefaultTTL is the lease TTL when the handler sets none.
	DefaultTTL time.Duration
	// Renew, when nil, makes the secret not renewable.
	Renew SecretFunc
	// Revoke must be set: every leased secret can be revoked.
	Revoke SecretFunc
}

// Response builds a leased response: data goes to the client, internal
// stays with the lease (see logical.Secret.InternalData). The TTL is
// DefaultTTL; the handler may change resp.Secret.TTL and MaxTTL.
func (s *Secret) Response(data, internal map[string]any) *logical.Response {
	in := maps.Clone(internal)
	if in == nil {
		in = map[string]any{}
	}
	in[logical.SecretTypeKey] = s.Type
	return &logical.Response{
		Data:   data,
		Secret: &logical.Secret{TTL: s.DefaultTTL, Renewable: s.Renew != nil, InternalData: in},
	}
}

// handleSecret routes a lease manager's renew or revoke request to the
// Secret type named in its InternalData.
func (b *Backend) handleSecret(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	typ := req.Secret.SecretType()
	for _, s := range b.Secrets {
		if s.Type != typ {
			continue
		}
		fn := s.Revoke
		if req.Operation == logical.RenewOperation {
			fn = s.Renew
		}
		if fn == nil {
			return nil, logical.InvalidRequest("lease is not renewable")
		}
		return fn(ctx, req)
	}
	return nil, logical.CodedError(logical.ErrUnsupportedOperation, "no secret type %q in this backend", typ)
}
