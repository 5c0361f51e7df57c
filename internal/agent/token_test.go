package agent

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestTokenRenewAndRelogin: an AppRole token with a short TTL is renewed
// until its max TTL is near, then the agent logs in again with the secret
// ID it kept (the file was removed after reading), writes the new token to
// the sink, and renders again with it.
func TestTokenRenewAndRelogin(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	must(t, s.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}))
	must(t, s.root.Sys().PutPolicy("app", kvPolicy))
	if _, err := s.root.Logical().Write("auth/approle/role/web", map[string]any{
		"token_policies": "app", "token_ttl": "3s", "token_max_ttl": "5s",
	}); err != nil {
		t.Fatal(err)
	}
	rid, err := s.root.Logical().Read("auth/approle/role/web/role-id")
	must(t, err)
	sid, err := s.root.Logical().Write("auth/approle/role/web/secret-id", nil)
	must(t, err)
	roleFile, secretFile := filepath.Join(dir, "role-id"), filepath.Join(dir, "secret-id")
	must(t, os.WriteFile(roleFile, []byte(rid.Data["role_id"].(string)), 0o600))
	must(t, os.WriteFile(secretFile, []byte(sid.Data["secret_id"].(string)), 0o600))
	s.putKV(t, "web", map[string]any{"k": "v"})
	sink := filepath.Join(dir, "sink")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth {
  method "approle" { config {
    role_id_file_path = %q
    secret_id_file_path = %q
  } }
  sink "file" { config { path = %q } }
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/web\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, roleFile, secretFile, sink, filepath.Join(dir, "out")))
	run := start(t, cfg, Options{})
	first := waitFile(t, sink, func(s string) bool { return s != "" })
	second := waitFile(t, sink, func(s string) bool { return s != "" && s != first })
	if _, err := newTestClient(t, s.url, second).Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the new token does not work: %v", err)
	}
	waitFile(t, filepath.Join(dir, "out"), equals("v"))
	// The log line follows the sink write; wait for it.
	for i := 0; strings.Count(run.log.String(), "msg=authenticated") < 2; i++ {
		if i > 1000 {
			t.Fatal("the second login was never logged")
		}
		sleepShort()
	}
}

// TestSecretWrite: secret with key=value arguments writes (here: creates
// a token), the answer's Auth is there for the template, and the result is
// reused while it is valid rather than written again on every render.
func TestSecretWrite(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(s.root.Token()), 0o600))
	s.putKV(t, "a", map[string]any{"v": "1"})
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template_config { static_secret_render_interval = "1s" }
template {
  destination = %q
  contents = "{{ with secret \"auth/token/create\" \"policies=default\" \"ttl=1h\" }}{{ .Auth.Policies }} {{ .Auth.ClientToken }}{{ end }} {{ with secret \"secret/data/a\" }}{{ .Data.data.v }}{{ end }}"
}
`, s.url, tok, filepath.Join(dir, "out")))
	start(t, cfg, Options{})
	first := waitFile(t, filepath.Join(dir, "out"), contains("[default] "))
	s.putKV(t, "a", map[string]any{"v": "2"})
	second := waitFile(t, filepath.Join(dir, "out"), func(s string) bool { return strings.HasSuffix(s, " 2") })
	if strings.TrimSuffix(first, " 1") != strings.TrimSuffix(second, " 2") {
		t.Fatalf("the written secret was not reused: %q then %q", first, second)
	}
}

// TestServerLateStart: while the server does not answer (every
// connection is dropped) the agent retries its login with backoff,
// logging the failure but never the token, and renders as soon as the
// server answers.
func TestServerLateStart(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	gate := &gateListener{Listener: inner}
	gate.open.Store(true)
	s := startServerOn(t, gate)
	s.putKV(t, "late", map[string]any{"k": "finally"})
	gate.open.Store(false)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(s.root.Token()), 0o600))
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" {
  min_backoff = "50ms"
  max_backoff = "200ms"
  config { token_file_path = %q }
} }
template {
  destination = %q
  contents = "{{ with secret \"secret/data/late\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, tok, filepath.Join(dir, "out")))
	run := start(t, cfg, Options{})
	for strings.Count(run.log.String(), "auto-auth failed; retrying") < 2 {
		sleepShort()
	}
	gate.open.Store(true)
	waitFile(t, filepath.Join(dir, "out"), equals("finally"))
	if logs := run.log.String(); strings.Contains(logs, s.root.Token()) {
		t.Fatalf("a token reached the log:\n%s", logs)
	}
}

// gateListener drops every connection while open is false, as a server
// that is down would (seen from the client: the connection fails).
type gateListener struct {
	net.Listener
	open atomic.Bool
}

func (g *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || g.open.Load() {
			return c, err
		}
		c.Close()
	}
}
