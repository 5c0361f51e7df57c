package telemetry

import (
	"context"
	"time"
)

// Request is what one request reports while the core serves it. The core
// starts it (Begin), fills in what routing learns (Route) and ends it
// (End). Not safe for concurrent use: one request, one goroutine.
type Request struct {
	m *Metrics
	// ID is the request's ID, which log lines written with its context
	// carry as request_id.
	ID        string
	start     time.Duration // a reading of monotonic
	mountType string
	operation string
	login     bool
}

type requestKey struct{}

// RecordContext is the context Begin returns: ctx with the record in
// it, made in one allocation where context.WithValue and the record
// would take two. BeginIn lets a caller place it inside a larger
// per-request allocation of its own.
type RecordContext struct {
	context.Context
	r Request
}

// Value answers for the record and asks the parent for everything else,
// as a context.WithValue would (the context package finds its cancel
// contexts through Value too, so cancellation propagates as before).
func (c *RecordContext) Value(key any) any {
	if key == (requestKey{}) {
		return &c.r
	}
	return c.Context.Value(key)
}

// Begin starts the record of a request with ID id and returns a context
// that carries it (for log lines and audit failures). m may be nil: the
// request ID still reaches the log lines.
func (m *Metrics) Begin(ctx context.Context, id string) (context.Context, *Request) {
	return m.BeginIn(new(RecordContext), ctx, id)
}

// BeginIn is Begin building the context in c, which must be unused (the
// zero value) and belong to this one request.
func (m *Metrics) BeginIn(c *RecordContext, ctx context.Context, id string) (context.Context, *Request) {
	c.Context, c.r = ctx, Request{m: m, ID: id}
	if m != nil {
		c.r.start = monotonic()
	}
	return c, &c.r
}

// FromContext returns the request record ctx carries, or nil.
func FromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Route records the type of the mount a request reached, the operation it
// ran as, and whether it was a login (a request served without a token by
// an auth method). It does nothing when ctx carries no record.
func Route(ctx context.Context, mountType, operation string, login bool) {
	if r := FromContext(ctx); r != nil {
		r.mountType, r.operation, r.login = mountType, operation, login
	}
}

// MountType is the type of the mount the request reached, "" before
// routing or when it reached none.
func (r *Request) MountType() string {
	if r == nil {
		return ""
	}
	return r.mountType
}

// End records the request's duration and, for a login, its outcome:
// issued is whether a token was issued, failed whether the login was
// refused (an answer with neither, such as an OIDC auth URL, is not a
// login attempt). fallbackOp names the operation when the request never
// reached a mount (a pre-auth sys/ path, a refusal before routing), whose
// mount type is then "system" for sys/ paths or "none".
func (r *Request) End(sysPath bool, fallbackOp string, issued, failed bool) {
	if r == nil || r.m == nil {
		return
	}
	mt, op := r.mountType, r.operation
	if mt == "" {
		mt = "none"
		if sysPath {
			mt = "system"
		}
	}
	if op == "" {
		op = fallbackOp
	}
	r.m.requestObserver(mt, op).Observe((monotonic() - r.start).Seconds())
	if r.login && (issued || failed) {
		r.m.Login(mt, issued)
	}
}

// AuditFailure counts one entry an audit device of type deviceType failed
// to record, in the metrics of the request ctx belongs to. It is what the
// audit devices call; without a record in ctx it does nothing.
func AuditFailure(ctx context.Context, deviceType string) {
	if r := FromContext(ctx); r != nil {
		r.m.AuditFailure(deviceType)
	}
}
