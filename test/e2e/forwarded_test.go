package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// startBehind starts an initialised, unsealed server whose listener has
// the X-Forwarded-For settings ff, with KV v2 at secret/. The test's own
// connections come from 127.0.0.1.
func startBehind(t *testing.T, ff httpapi.ForwardedFor) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "e2e",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.WithForwardedFor(httpapi.New(co, httpapi.Options{}), ff))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
	if ff.RejectNotPresent {
		s.client.AddHeader("X-Forwarded-For", "192.0.2.250")
	}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	if st, err := s.client.Sys().Unseal(s.keys[0]); err != nil || st.Sealed {
		t.Fatalf("unseal: %+v %v", st, err)
	}
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// from returns a client whose requests say, through the X-Forwarded-For
// header, that they come from addr ("" sends no header).
func (s *server) from(t *testing.T, token, addr string) *api.Client {
	c := s.as(t, token)
	if addr != "" {
		c.AddHeader("X-Forwarded-For", addr)
	}
	return c
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// TestForwardedForTrustedProxy: behind a proxy the listener trusts, the
// client address the core uses is the forwarded one, for quotas and for
// bound CIDRs alike.
func TestForwardedForTrustedProxy(t *testing.T) {
	t.Parallel()
	s := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: loopback})
	c := s.client
	if _, err := c.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("sys/quotas/rate-limit/one", map[string]any{"rate": 1, "interval": "1h", "path": "secret/"}); err != nil {
		t.Fatal(err)
	}
	// Each forwarded client has its own bucket; the proxy is not one
	// client for all of them.
	for _, addr := range []string{"198.51.100.1", "198.51.100.2", "2001:db8::7", ""} {
		if ok, limited, _ := flood(t, s.from(t, s.root, addr), "secret/data/app", 3, false); ok != 1 || limited != 2 {
			t.Fatalf("client %q: %d passed, %d limited; want its own bucket of 1", addr, ok, limited)
		}
	}
	// The last address of the chain is the one the trusted proxy saw.
	if ok, _, _ := flood(t, s.from(t, s.root, "198.51.100.1, 198.51.100.3"), "secret/data/app", 1, false); ok != 1 {
		t.Fatal("a new last hop did not get its own bucket")
	}

	if err := c.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/userpass/users/lan", map[string]any{"password": "pw", "token_bound_cidrs": "198.51.100.0/24"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.from(t, "", "203.0.113.9").Logical().Write("auth/userpass/login/lan", map[string]any{"password": "pw"}); err == nil {
		t.Fatal("a login forwarded from outside the user's bound CIDRs succeeded")
	}
	login, err := s.from(t, "", "198.51.100.7").Logical().Write("auth/userpass/login/lan", map[string]any{"password": "pw"})
	if err != nil {
		t.Fatalf("login forwarded from inside the bound CIDRs: %v", err)
	}
	tok := login.Auth.ClientToken
	if _, err := s.from(t, tok, "198.51.100.8").Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the token used from inside its CIDRs: %v", err)
	}
	for _, addr := range []string{"203.0.113.9", ""} {
		if _, err := s.from(t, tok, addr).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
			t.Fatalf("the token used from %q (outside its CIDRs): %v, want a 403", addr, err)
		}
	}
}

// TestForwardedForUntrustedPeer: a peer outside the authorised addresses
// cannot choose its client address: its header is ignored (so it cannot
// escape a quota by inventing addresses), or, with
// x_forwarded_for_reject_not_authorized, refused with Vault's 400.
func TestForwardedForUntrustedPeer(t *testing.T) {
	t.Parallel()
	elsewhere := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	s := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: elsewhere})
	if _, err := s.client.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("sys/quotas/rate-limit/one", map[string]any{"rate": 1, "interval": "1h", "path": "secret/"}); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, addr := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		ok, _, _ := flood(t, s.from(t, s.root, addr), "secret/data/app", 1, false)
		passed += ok
	}
	if passed != 1 {
		t.Fatalf("an untrusted peer got %d requests through a quota of 1 by varying X-Forwarded-For", passed)
	}

	strict := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: elsewhere, RejectNotAuthorized: true})
	_, err := strict.from(t, strict.root, "198.51.100.1").Logical().Read("secret/data/app")
	wantVault(t, err, "client address not authorized for x-forwarded-for and configured to reject connection")
	if _, err := strict.from(t, strict.root, "").Sys().Health(); err != nil {
		t.Fatalf("without the header an untrusted peer is served: %v", err)
	}
}

// TestForwardedForRejectNotPresent: with x_forwarded_for_reject_not_present
// every request must carry the header, health checks included, as in Vault.
func TestForwardedForRejectNotPresent(t *testing.T) {
	t.Parallel()
	s := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: loopback, RejectNotPresent: true})
	_, err := s.from(t, s.root, "").Sys().Health()
	wantVault(t, err, "missing x-forwarded-for header and configured to reject when not present")
	_, err = s.from(t, s.root, "").Logical().Read("sys/mounts")
	wantVault(t, err, "missing x-forwarded-for header and configured to reject when not present")
	if _, err := s.from(t, s.root, "198.51.100.1").Logical().Read("sys/mounts"); err != nil {
		t.Fatalf("with the header: %v", err)
	}
	_, err = s.from(t, s.root, "not-an-ip").Logical().Read("sys/mounts")
	wantVault(t, err, `malformed x-forwarded-for header: "not-an-ip" is not an IP address`)
}

// wantVault fails unless err is a 400 whose one message is msg.
func wantVault(t *testing.T, err error, msg string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || len(re.Errors) != 1 || re.Errors[0] != msg {
		t.Fatalf("got %v, want a 400 %q", err, msg)
	}
}
