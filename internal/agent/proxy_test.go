package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestCacheListener: the OpenBao client, pointed at the agent's unix
// socket without a token, is served with the auto-auth token attached;
// a leased response (a created token) is answered from the cache, a
// static one (KV) is not, and cache-clear empties the cache. A tcp
// listener with use_auto_auth_token = false passes only the caller's
// token.
func TestCacheListener(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"v": "1"})
	tok := s.tokenFile(t, dir, kvPolicy+`
path "auth/token/create" { capabilities = ["update"] }`, "1h")
	sock := filepath.Join(dir, "agent.sock")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
cache {}
listener "unix" { address = %q }
`, s.url, tok, sock))
	start(t, cfg, Options{})
	c := newTestClient(t, "unix://"+sock, "")
	c.ClearToken()
	waitReady(t, c)

	create := func() string {
		t.Helper()
		sec, err := c.Logical().Write("auth/token/create", map[string]any{"policies": []string{"app"}, "ttl": "1h"})
		if err != nil || sec.Auth == nil {
			t.Fatalf("token create through the proxy: %+v %v", sec, err)
		}
		return sec.Auth.ClientToken
	}
	a, b := create(), create()
	if a != b {
		t.Fatal("a leased response was not cached")
	}
	kv := func() string {
		sec, err := c.Logical().Read("secret/data/app")
		if err != nil || sec == nil {
			t.Fatalf("KV through the proxy: %v", err)
		}
		return fmt.Sprint(sec.Data["data"].(map[string]any)["v"])
	}
	if v := kv(); v != "1" {
		t.Fatalf("kv %q", v)
	}
	s.putKV(t, "app", map[string]any{"v": "2"})
	if v := kv(); v != "2" {
		t.Fatal("a static secret was served from the cache")
	}
	req := c.NewRequest(http.MethodPost, "/agent/v1/cache-clear")
	must(t, req.SetJSONBody(map[string]string{"type": "all"}))
	resp, err := c.RawRequest(req)
	must(t, err)
	resp.Body.Close()
	if create() == a {
		t.Fatal("cache-clear did not clear")
	}
}

// TestProxyWithoutAutoToken: with use_auto_auth_token = false a request
// without a token is refused by the server, with one it passes.
func TestProxyWithoutAutoToken(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"v": "1"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	sock := filepath.Join(dir, "agent.sock")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
api_proxy { use_auto_auth_token = false }
listener "unix" { address = %q }
`, s.url, tok, sock))
	start(t, cfg, Options{})
	c := newTestClient(t, "unix://"+sock, "")
	c.ClearToken()
	waitReady(t, c)
	if _, err := c.Logical().Read("secret/data/app"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("no token: %v", err)
	}
	c.SetToken(s.root.Token())
	if sec, err := c.Logical().Read("secret/data/app"); err != nil || sec == nil {
		t.Fatalf("own token: %v", err)
	}
}

// waitReady waits for the listener to answer sys/health.
func waitReady(t *testing.T, c *api.Client) {
	t.Helper()
	for i := 0; ; i++ {
		if _, err := c.Sys().Health(); err == nil {
			return
		} else if i > 500 {
			t.Fatalf("proxy never answered: %v", err)
		}
		sleepShort()
	}
}

// TestCacheRevokedToken: a cached response is never served to a token
// that is no longer valid (revoked through the listener or on the server
// directly), and revoke-prefix through the listener evicts the leases it
// revoked.
func TestCacheRevokedToken(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	sock := filepath.Join(dir, "agent.sock")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
cache {}
listener "unix" { address = %q }
`, s.url, tok, sock))
	start(t, cfg, Options{})
	child := func(revoke func(c *api.Client, token string)) {
		t.Helper()
		sec, err := s.root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}, TTL: "1h"})
		must(t, err)
		c := newTestClient(t, "unix://"+sock, sec.Auth.ClientToken)
		waitReady(t, c)
		create := func() (string, error) {
			sec, err := c.Logical().Write("auth/token/create", map[string]any{"policies": []string{"default"}, "ttl": "1h"})
			if err != nil {
				return "", err
			}
			return sec.Auth.ClientToken, nil
		}
		a, err := create()
		must(t, err)
		if b, err := create(); err != nil || a != b {
			t.Fatalf("not cached: %v", err)
		}
		revoke(c, sec.Auth.ClientToken)
		if got, err := create(); err == nil {
			t.Fatalf("a revoked token was answered from the cache (token %t)", got == a)
		}
	}
	child(func(c *api.Client, _ string) { must(t, c.Auth().Token().RevokeSelf("")) })
	child(func(_ *api.Client, token string) { must(t, s.root.Auth().Token().RevokeTree(token)) })

	c := newTestClient(t, "unix://"+sock, s.root.Token())
	create := func() *api.Secret {
		t.Helper()
		sec, err := c.Logical().Write("auth/token/create", map[string]any{"policies": []string{"default"}, "ttl": "1h"})
		must(t, err)
		return sec
	}
	a := create()
	must(t, c.Sys().RevokePrefix("auth/token/create"))
	if b := create(); b.Auth.ClientToken == a.Auth.ClientToken {
		t.Fatal("revoke-prefix through the listener left its leases in the cache")
	}
	// A token the cache handed out (a login's or a creation's) and that
	// was revoked since, here on the server directly, is not handed out again.
	a = create()
	must(t, s.root.Auth().Token().RevokeOrphan(a.Auth.ClientToken))
	if b := create(); b.Auth.ClientToken == a.Auth.ClientToken {
		t.Fatal("the cache handed out a revoked token")
	}
}

// TestCacheOddPaths: the proxy classifies a request by the path the
// server acts on, so "//" or "/./" in it neither hide a revocation from
// the cache nor make a sys/ answer cacheable.
func TestCacheOddPaths(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	sock := filepath.Join(dir, "agent.sock")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
cache {}
listener "unix" { address = %q }
`, s.url, tok, sock))
	start(t, cfg, Options{})
	c := newTestClient(t, "unix://"+sock, s.root.Token())
	waitReady(t, c)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	raw := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://agent"+path, strings.NewReader("{}"))
		must(t, err)
		req.Header.Set("X-Vault-Token", s.root.Token())
		resp, err := hc.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	create := func() string {
		t.Helper()
		sec, err := c.Logical().Write("auth/token/create", map[string]any{"policies": []string{"default"}, "ttl": "1h"})
		must(t, err)
		return sec.Auth.ClientToken
	}
	for _, path := range []string{"/v1//sys/leases/revoke-prefix/auth/token/create", "/v1/sys/./leases/revoke-prefix/auth/token/create"} {
		a := create()
		raw(http.MethodPut, path)
		if create() == a {
			t.Errorf("%s revoked the token but left it in the cache", path)
		}
	}
}
