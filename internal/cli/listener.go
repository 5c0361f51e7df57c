package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/httpapi"
)

// listener is one bound socket and its HTTP settings.
type listener struct {
	ln             net.Listener
	tls            *tls.Config
	cert           *certReloader // nil without TLS
	maxRequestSize int64
	// forwarded is the listener's x_forwarded_for_* settings; the zero
	// value ignores X-Forwarded-For.
	forwarded httpapi.ForwardedFor
	// disabledPaths are the token-less paths this listener removes (see
	// unauthedDisabled).
	disabledPaths []string
	// unauthenticatedMetrics serves sys/metrics without a token
	// (telemetry { unauthenticated_metrics_access = true }).
	unauthenticatedMetrics bool
	// forwarder carries a standby's requests to the active node; nil
	// without a cluster port.
	forwarder httpapi.Forwarder
}

// handler is the API as this listener serves it: behind its
// X-Forwarded-For settings, so the core sees the client a trusted proxy
// names rather than the proxy. bodies is the request-body budget every
// listener of the server shares.
func (l listener) handler(core httpapi.Handler, logger *slog.Logger, bodies *httpapi.BodyBudget) http.Handler {
	api := httpapi.New(core, httpapi.Options{MaxRequestSize: l.maxRequestSize, Bodies: bodies, Logger: logger, DisabledPaths: l.disabledPaths,
		Forwarder: l.forwarder})
	return httpapi.WithForwardedFor(api, l.forwarded)
}

// certReloader serves a certificate that can be replaced on SIGHUP, so an
// operator can rotate it without a restart (and without unsealing again).
// Safe for concurrent use.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	return r, r.reload()
}

// reload reads the files again; on failure the current certificate stays.
func (r *certReloader) reload() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", r.certFile, err)
	}
	r.cert.Store(&cert)
	return nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// openListeners binds every configured listener, closing those already
// bound if one fails.
func openListeners(cfgs []config.Listener) ([]listener, error) {
	var out []listener
	closeAll := func() {
		for _, o := range out {
			o.ln.Close()
		}
	}
	for _, lc := range cfgs {
		l := listener{maxRequestSize: lc.MaxRequestSize, disabledPaths: unauthedDisabled(lc),
			unauthenticatedMetrics: lc.Telemetry.UnauthenticatedMetricsAccess, forwarded: httpapi.ForwardedFor{
				AuthorizedAddrs: lc.ForwardedFor.AuthorizedAddrs, HopSkips: int(lc.ForwardedFor.HopSkips),
				RejectNotAuthorized: lc.ForwardedFor.RejectNotAuthorized, RejectNotPresent: lc.ForwardedFor.RejectNotPresent,
			}}
		if !lc.TLSDisable {
			r, err := newCertReloader(lc.TLSCertFile, lc.TLSKeyFile)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("listener %s: %w", lc.Address, err)
			}
			l.cert = r
			l.tls = &tls.Config{GetCertificate: r.getCertificate, MinVersion: tlsVersion(lc.TLSMinVersion)}
		}
		ln, err := net.Listen("tcp", lc.Address)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on %s: %w", lc.Address, err)
		}
		l.ln = ln
		out = append(out, l)
	}
	return out, nil
}

// tlsVersion maps the config's minimum version (tls12 or tls13; the
// config refuses older ones).
func tlsVersion(v string) uint16 {
	if v == "tls13" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}
