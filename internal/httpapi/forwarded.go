package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedFor says which proxies may name the client of a request with
// X-Forwarded-For: a listener's x_forwarded_for_* settings.
type ForwardedFor struct {
	// AuthorizedAddrs are the peers whose header is believed; empty turns
	// the feature off.
	AuthorizedAddrs []netip.Prefix
	// HopSkips is how many addresses to skip from the end of the chain.
	HopSkips int
	// RejectNotAuthorized answers 400 when a peer outside AuthorizedAddrs
	// sends the header, instead of dropping the header.
	RejectNotAuthorized bool
	// RejectNotPresent answers 400 when a request has no header, instead
	// of using the peer's address.
	RejectNotPresent bool
}

// WithForwardedFor returns h behind Vault's X-Forwarded-For handling: when
// the connecting peer is in f.AuthorizedAddrs, the request's RemoteAddr
// (the client address the core uses for quotas, bound CIDRs, the lockout
// and audit) becomes the address the header names, counted HopSkips from
// the end of the chain, with the peer's port. A peer that is not
// authorised never changes the client address: its header is dropped, or
// the request refused when f.RejectNotAuthorized. With no authorised
// address h is returned unchanged. Safe for concurrent use.
func WithForwardedFor(h http.Handler, f ForwardedFor) http.Handler {
	if len(f.AuthorizedAddrs) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote, err := f.clientAddr(r)
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			writeErrors(w, http.StatusBadRequest, []string{err.Error()})
			return
		}
		r.RemoteAddr = remote
		h.ServeHTTP(w, r)
	})
}

// clientAddr decides the client address of r, or the 400 Vault answers.
// It drops the header from r when the peer is not trusted to send it.
func (f ForwardedFor) clientAddr(r *http.Request) (string, error) {
	headers := r.Header.Values("X-Forwarded-For")
	if len(headers) == 0 {
		if f.RejectNotPresent {
			return "", fmt.Errorf("missing x-forwarded-for header and configured to reject when not present")
		}
		return r.RemoteAddr, nil
	}
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		// As Vault: a peer address that cannot be read counts as no header.
		if f.RejectNotPresent {
			return "", fmt.Errorf("error parsing client hostport: %v", err)
		}
		return r.RemoteAddr, nil
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		if f.RejectNotPresent {
			return "", fmt.Errorf("error parsing client address: %v", err)
		}
		return r.RemoteAddr, nil
	}
	if !f.authorized(peer.Unmap()) {
		if f.RejectNotAuthorized {
			return "", fmt.Errorf("client address not authorized for x-forwarded-for and configured to reject connection")
		}
		// Nothing downstream may take the untrusted header for the truth.
		r.Header.Del("X-Forwarded-For")
		return r.RemoteAddr, nil
	}
	var chain []string
	for _, h := range headers {
		for _, v := range strings.Split(h, ",") {
			chain = append(chain, strings.TrimSpace(v))
		}
	}
	i := len(chain) - 1 - f.HopSkips
	if i < 0 {
		return "", fmt.Errorf("malformed x-forwarded-for configuration or request, hops to skip (%d) would skip before earliest chain link (chain length %d)", f.HopSkips, len(chain))
	}
	client, ok := forwardedIP(chain[i])
	if !ok {
		// Vault would take any text; an address that is not one would key
		// rate limits by whatever a client writes, and fail every CIDR.
		return "", fmt.Errorf("malformed x-forwarded-for header: %q is not an IP address", chain[i])
	}
	return net.JoinHostPort(client.String(), port), nil
}

func (f ForwardedFor) authorized(a netip.Addr) bool {
	for _, p := range f.AuthorizedAddrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedIP reads one X-Forwarded-For entry: an IP address, optionally
// bracketed (IPv6) or with a port, as some proxies write it.
func forwardedIP(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
