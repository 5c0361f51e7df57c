package logical

import (
	"context"
	"io"
	"time"
)

// Response is what an engine returns for a Request. A nil Response with a nil
// error means "nothing there": the HTTP layer answers 404 for reads and lists
// and 204 for writes.
type Response struct {
	Data     map[string]any
	Secret   *Secret
	Auth     *Auth
	Warnings []string
	// Raw, when set, is written as the whole HTTP body instead of an envelope,
	// with RawStatus (200 when zero). Used by endpoints such as sys/health
	// that Vault clients expect bare.
	Raw       any
	RawStatus int
	// Status, when non-zero, overrides the status code of an enveloped
	// response: KV v2 answers 404 with metadata for a deleted version.
	Status int
	// DataAtTopLevel asks for Vault's legacy shape of some sys/ responses
	// (sys/mounts, sys/policy, ...): each Data field is rendered at the top
	// level of the body too, beside the envelope's own fields, which win
	// where a name is the same. Older clients still read it there.
	DataAtTopLevel bool
	// WrapInfo, when set, means the response was wrapped: what it would
	// have said is kept for the holder of WrapInfo.Token, and the client is
	// told only how to get it (and any Warnings).
	WrapInfo *WrapInfo
}

// RawBody, as a Response's Raw, is written as it is with its content type
// (the Prometheus text of sys/metrics) rather than as JSON.
type RawBody struct {
	ContentType string
	Body        []byte
}

// RawStream, as a Response's Raw, is a body too large to hold in memory (a
// storage snapshot): the HTTP layer sends the status and ContentType, then
// calls Write once with the connection. An error from Write after bytes
// went out cannot change the status: the body must carry its own checksum
// so that a client notices it was cut short.
type RawStream struct {
	ContentType string
	Write       func(ctx context.Context, w io.Writer) error
}

// WrapInfo describes a response-wrapping token, as the envelope's
// wrap_info reports it. Token is the secret: whoever holds it may unwrap
// the response, once.
type WrapInfo struct {
	Token    string
	Accessor string
	// TTL is how long the token lives; CreationTime when it was made.
	TTL          time.Duration
	CreationTime time.Time
	// CreationPath is the request path whose response it wraps.
	CreationPath string
	// WrappedAccessor is the accessor of what is inside when that has one:
	// a token's, or an AppRole secret ID's.
	WrappedAccessor string
}

// Secret carries lease information for a response that hands out something
// with a lifetime.
//
// A response whose Secret has a SecretType (set by framework.Secret.Response)
// is leased: the lease manager records it under a new LeaseID and later sends
// the mount a RenewOperation or RevokeOperation request carrying the same
// Secret back. A Secret without a SecretType only reports a refresh interval
// (KV v1's ttl) and gets no lease.
type Secret struct {
	LeaseID   string
	TTL       time.Duration
	Renewable bool
	// MaxTTL caps the lease's whole life, counted from IssueTime; zero
	// means the mount's max_lease_ttl.
	MaxTTL time.Duration
	// InternalData is what the engine needs to renew or revoke the secret
	// later (a database user name, say). The lease manager keeps it with the
	// lease, inside the barrier, and hands it back unchanged; it never
	// reaches a client, a log or an audit entry in the clear.
	InternalData map[string]any
	// IssueTime and LastRenewalTime are filled in by the lease manager on
	// the renew and revoke requests it sends.
	IssueTime       time.Time
	LastRenewalTime time.Time
	// Increment is the TTL a renewal asks for (zero: the engine's default);
	// set only on RenewOperation requests.
	Increment time.Duration
}

// SecretTypeKey is the InternalData key naming the framework.Secret type
// that handles renewal and revocation of a leased secret.
const SecretTypeKey = "secret_type"

// SecretType returns the type recorded in s's InternalData, or "" when s is
// not leased.
func (s *Secret) SecretType() string {
	if s == nil {
		return ""
	}
	t, _ := s.InternalData[SecretTypeKey].(string)
	return t
}

// AddWarning appends a warning shown to the client alongside the data.
func (r *Response) AddWarning(w string) { r.Warnings = append(r.Warnings, w) }

// DataResponse is a convenience for the common case of a response with data only.
func DataResponse(data map[string]any) *Response { return &Response{Data: data} }
