package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/token"
)

// auditPrefix is the barrier view of the audit device table and keys.
const auditPrefix = "sys/audit/"

// auditRecord follows one request through HandleRequest for the audit
// devices.
type auditRecord struct {
	in     audit.Input
	logged bool
	// required is whether a device was enabled when the request line was
	// written: a response must then reach one. (The response to the
	// request that enables the first device need not.)
	required bool
}

// logRequest records the request line, once the request is authorised and
// routed and just before its backend runs. An error means that no device
// recorded it: the request must not be served.
func (r *auditRecord) logRequest(ctx context.Context, st *active, route *router.Route, sub *logical.Request, te *token.Entry) error {
	r.fill(route, sub, te)
	r.required = st.audit.Enabled()
	if err := st.audit.LogRequest(ctx, &r.in); err != nil {
		return fmt.Errorf("audit the request: %w", err)
	}
	r.logged = true
	return nil
}

func (r *auditRecord) fill(route *router.Route, sub *logical.Request, te *token.Entry) {
	r.in.Operation, r.in.Auth = sub.Operation, sub.Auth
	r.in.NonHMACRequestKeys, r.in.NonHMACResponseKeys = route.AuditNonHMACRequestKeys, route.AuditNonHMACResponseKeys
	r.in.MountPoint, r.in.MountType, r.in.MountAccessor = sub.MountPoint, sub.MountType, sub.MountAccessor
	if te != nil {
		r.in.TokenTTL, r.in.TokenIssueTime = te.TTL, te.CreationTime
	}
}

// auditResponse records the answer. A request refused before its backend
// ran (permission denied, a bad wrapping token) is recorded too, both
// lines at once, on a best-effort basis: nothing happened that the log
// must vouch for. When a served request's response reaches no device the
// client gets an error instead of the response, as in Vault.
func (c *Core) auditResponse(ctx context.Context, st *active, rec *auditRecord, resp *logical.Response, err error) (*logical.Response, error) {
	if !st.audit.Enabled() {
		return resp, err
	}
	rec.in.Response, rec.in.Err = resp, err
	ctx = context.WithoutCancel(ctx)
	if !rec.logged {
		if err == nil || errors.Is(err, audit.ErrAllDevicesFailed) {
			return resp, err
		}
		if st.audit.LogRequest(ctx, &rec.in) == nil {
			_ = st.audit.LogResponse(ctx, &rec.in)
		}
		return resp, err
	}
	if aerr := st.audit.LogResponse(ctx, &rec.in); aerr != nil && rec.required {
		return nil, fmt.Errorf("audit the response: %w", aerr)
	}
	return resp, err
}

// openAudit opens the audit devices at unseal.
func (c *Core) openAudit(ctx context.Context) (*audit.Broker, error) {
	b, err := audit.Open(ctx, audit.BrokerConfig{
		Storage: logical.NewView(c.barrier, auditPrefix), Logger: c.logger.With("component", "audit"),
		Declared: c.conf.AuditDevices, DisableAPI: c.conf.AuditAPIDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("open audit devices: %w", err)
	}
	return b, nil
}

// ReopenAudit reopens every audit device's file (SIGHUP, after a log
// rotation); a sealed server has none open.
func (c *Core) ReopenAudit(ctx context.Context) {
	if st := c.state.Load(); st != nil {
		st.audit.Reopen(ctx)
	}
}

func (a sysAdapter) ListAudit(context.Context) ([]audit.Config, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.audit.List(), nil
}

func (a sysAdapter) EnableAudit(ctx context.Context, conf audit.Config) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.audit.Enable(ctx, conf)
}

func (a sysAdapter) DisableAudit(ctx context.Context, path string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.audit.Disable(ctx, path)
}

func (a sysAdapter) AuditHash(_ context.Context, path, input string) (string, error) {
	st, err := a.active()
	if err != nil {
		return "", err
	}
	return st.audit.Hash(path, input)
}

func (a sysAdapter) AuditChainKey(ctx context.Context, path string) ([]byte, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.audit.ChainKey(ctx, path)
}

func (a sysAdapter) AuditedHeaders(context.Context) (map[string]bool, error) {
	st, err := a.active()
	if err != nil {
		return nil, err
	}
	return st.audit.AuditedHeaders(), nil
}

func (a sysAdapter) SetAuditedHeader(ctx context.Context, name string, hmac bool) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.audit.SetAuditedHeader(ctx, name, hmac)
}

func (a sysAdapter) DeleteAuditedHeader(ctx context.Context, name string) error {
	st, err := a.active()
	if err != nil {
		return err
	}
	return st.audit.DeleteAuditedHeader(ctx, name)
}

// AuditFailures returns, per audit device path, the entries it failed to
// record since it was opened (for telemetry); nil while sealed.
func (c *Core) AuditFailures() map[string]uint64 {
	if st := c.state.Load(); st != nil {
		return st.audit.Failures()
	}
	return nil
}
