package httpapi

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// peerOf records the client address the inner handler was given.
type peerOf struct{ addr, xff string }

func (p *peerOf) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.addr, p.xff = r.RemoteAddr, r.Header.Get("X-Forwarded-For")
	w.WriteHeader(http.StatusNoContent)
}

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	cases := map[string]struct {
		conf       ForwardedFor
		peer       string
		xff        []string
		wantStatus int
		wantAddr   string
		wantErr    string
	}{
		"trusted proxy":            {conf: ForwardedFor{}, peer: "10.1.1.1:4000", xff: []string{"203.0.113.7"}, wantStatus: 204, wantAddr: "203.0.113.7:4000"},
		"last of a chain":          {peer: "10.1.1.1:4000", xff: []string{"198.51.100.1, 203.0.113.7"}, wantStatus: 204, wantAddr: "203.0.113.7:4000"},
		"chain over headers":       {peer: "10.1.1.1:4000", xff: []string{"198.51.100.1", "203.0.113.7,192.0.2.5"}, wantStatus: 204, wantAddr: "192.0.2.5:4000"},
		"hop skips":                {conf: ForwardedFor{HopSkips: 1}, peer: "10.1.1.1:4000", xff: []string{"198.51.100.1, 203.0.113.7, 10.2.2.2"}, wantStatus: 204, wantAddr: "203.0.113.7:4000"},
		"ipv6 client and proxy":    {peer: "[2001:db8::9]:4000", xff: []string{"2001:db8:1::7"}, wantStatus: 204, wantAddr: "[2001:db8:1::7]:4000"},
		"client with port":         {peer: "10.1.1.1:4000", xff: []string{"203.0.113.7:5555"}, wantStatus: 204, wantAddr: "203.0.113.7:4000"},
		"bracketed ipv6":           {peer: "10.1.1.1:4000", xff: []string{"[2001:db8::5]"}, wantStatus: 204, wantAddr: "[2001:db8::5]:4000"},
		"mapped ipv4 peer":         {peer: "[::ffff:10.1.1.1]:4000", xff: []string{"203.0.113.7"}, wantStatus: 204, wantAddr: "203.0.113.7:4000"},
		"untrusted peer ignored":   {peer: "192.0.2.9:4000", xff: []string{"203.0.113.7"}, wantStatus: 204, wantAddr: "192.0.2.9:4000"},
		"no header":                {peer: "10.1.1.1:4000", wantStatus: 204, wantAddr: "10.1.1.1:4000"},
		"unreadable peer":          {peer: "@", xff: []string{"203.0.113.7"}, wantStatus: 204, wantAddr: "@"},
		"untrusted peer rejected":  {conf: ForwardedFor{RejectNotAuthorized: true}, peer: "192.0.2.9:4000", xff: []string{"203.0.113.7"}, wantStatus: 400, wantErr: "client address not authorized for x-forwarded-for and configured to reject connection"},
		"untrusted, no header":     {conf: ForwardedFor{RejectNotAuthorized: true}, peer: "192.0.2.9:4000", wantStatus: 204, wantAddr: "192.0.2.9:4000"},
		"missing header rejected":  {conf: ForwardedFor{RejectNotPresent: true}, peer: "10.1.1.1:4000", wantStatus: 400, wantErr: "missing x-forwarded-for header and configured to reject when not present"},
		"missing, untrusted peer":  {conf: ForwardedFor{RejectNotPresent: true}, peer: "192.0.2.9:4000", wantStatus: 400, wantErr: "missing x-forwarded-for header and configured to reject when not present"},
		"unreadable peer rejected": {conf: ForwardedFor{RejectNotPresent: true}, peer: "@", xff: []string{"203.0.113.7"}, wantStatus: 400, wantErr: "error parsing client hostport"},
		"too many hops":            {conf: ForwardedFor{HopSkips: 2}, peer: "10.1.1.1:4000", xff: []string{"203.0.113.7, 10.2.2.2"}, wantStatus: 400, wantErr: "malformed x-forwarded-for configuration or request, hops to skip (2) would skip before earliest chain link (chain length 2)"},
		"not an address":           {peer: "10.1.1.1:4000", xff: []string{"203.0.113.7, evil"}, wantStatus: 400, wantErr: `malformed x-forwarded-for header: "evil" is not an IP address`},
		"empty header":             {peer: "10.1.1.1:4000", xff: []string{""}, wantStatus: 400, wantErr: `malformed x-forwarded-for header: "" is not an IP address`},
		"zone":                     {peer: "10.1.1.1:4000", xff: []string{"fe80::1%eth0"}, wantStatus: 400, wantErr: "is not an IP address"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conf := tc.conf
			conf.AuthorizedAddrs = proxies
			inner := &peerOf{}
			r := httptest.NewRequest(http.MethodGet, "/v1/sys/health", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			w := httptest.NewRecorder()
			WithForwardedFor(inner, conf).ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.wantStatus)
			}
			if tc.wantErr != "" {
				var body struct{ Errors []string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 || !strings.Contains(body.Errors[0], tc.wantErr) {
					t.Fatalf("body %s, want Vault's error %q", w.Body, tc.wantErr)
				}
				if inner.addr != "" {
					t.Fatal("a refused request reached the handler")
				}
				return
			}
			if inner.addr != tc.wantAddr {
				t.Fatalf("client address %q, want %q", inner.addr, tc.wantAddr)
			}
			if strings.HasPrefix(name, "untrusted") && inner.xff != "" {
				t.Fatalf("an untrusted peer's header reached the handler: %q", inner.xff)
			}
		})
	}
}

func TestForwardedForOff(t *testing.T) {
	t.Parallel()
	inner := &peerOf{}
	h := WithForwardedFor(inner, ForwardedFor{RejectNotPresent: true, RejectNotAuthorized: true})
	r := httptest.NewRequest(http.MethodGet, "/v1/sys/health", nil)
	r.RemoteAddr = "192.0.2.9:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if inner.addr != "192.0.2.9:4000" {
		t.Fatalf("with no authorised address the header moved the client to %q", inner.addr)
	}
}

// FuzzForwardedFor checks that whatever a trusted proxy's header holds,
// the request is either refused with a 400 or reaches the core with a
// client address that is a real IP and the peer's port.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "a, b", "", ",", "[::1]:80", "1.2.3.4:99999", "fe80::1%eth0", " 10.0.0.1 ,\t2001:db8::1", "::ffff:1.2.3.4"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, xff string, skips uint8) {
		inner := &peerOf{}
		conf := ForwardedFor{AuthorizedAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, HopSkips: int(skips % 4)}
		r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header["X-Forwarded-For"] = []string{xff}
		w := httptest.NewRecorder()
		WithForwardedFor(inner, conf).ServeHTTP(w, r)
		switch w.Code {
		case http.StatusBadRequest:
			if inner.addr != "" {
				t.Fatal("a refused request reached the handler")
			}
		case http.StatusNoContent:
			host, port, err := net.SplitHostPort(inner.addr)
			if err != nil || port != "4000" {
				t.Fatalf("client address %q", inner.addr)
			}
			if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("client address %q is not a plain IP", inner.addr)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
