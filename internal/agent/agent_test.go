package agent

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
)

const kvPolicy = `path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["list"] }`

// TestTokenFileKV: the token_file method's token renders a KV v2 secret
// (under .Data.data, as Vault) with the template functions, written with
// the default mode 0600 or the given perms, the token goes to the sink,
// and a new KV version is noticed at static_secret_render_interval: the
// file is rewritten and the template's command runs.
func TestTokenFileKV(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"user": "alice", "password": "s3cr3t w/ space", "list": "a,b"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	marker := filepath.Join(dir, "ran")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth {
  method "token_file" { config { token_file_path = %q } }
  sink "file" { config { path = %q } }
}
template_config { static_secret_render_interval = "1s" }
template {
  destination = %q
  contents = <<EOT
{{ with secret "secret/data/app" }}user={{ .Data.data.user }} pw={{ .Data.data.password | urlquery }} v={{ .Data.metadata.version }}
b64={{ base64Encode .Data.data.user }} back={{ base64Encode .Data.data.user | base64Decode }}
{{ range split "," .Data.data.list }}[{{ . }}]{{ end }} {{ toJSON .Data.data.list }} {{ trimSpace "  x  " }} home={{ env "AGENT_TEST_VAR" }}{{ end }}
{{ range secrets "secret/metadata/" }}key={{ . }}{{ end }}
EOT
  command = "echo ran >> %s"
}
template {
  destination = %q
  perms = "0640"
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data | toJSONPretty }}{{ end }}"
}
`, s.url, tok, filepath.Join(dir, "sink"), filepath.Join(dir, "out", "app.env"), marker, filepath.Join(dir, "out", "app.json")))
	start(t, cfg, Options{})
	out := filepath.Join(dir, "out", "app.env")
	j := waitFile(t, filepath.Join(dir, "out", "app.json"), contains("alice"))
	got := waitFile(t, out, contains("v=1"))
	want := "user=alice pw=s3cr3t+w%2F+space v=1\nb64=YWxpY2U= back=alice\n[a][b] \"a,b\" x home=here\nkey=app\n"
	if got != want {
		t.Fatalf("rendered\n%q\nwant\n%q", got, want)
	}
	if m := mode(t, out); m != 0o600 {
		t.Fatalf("default mode %o, want 0600", m)
	}
	if m := mode(t, filepath.Join(dir, "out", "app.json")); m != 0o640 {
		t.Fatalf("perms mode %o, want 0640", m)
	}
	if !strings.Contains(j, "\n  \"password\"") {
		t.Fatalf("toJSONPretty: %q", j)
	}
	sink := waitFile(t, filepath.Join(dir, "sink"), func(s string) bool { return s != "" })
	if tokBytes, _ := os.ReadFile(tok); sink != strings.TrimSpace(string(tokBytes)) || mode(t, filepath.Join(dir, "sink")) != 0o640 {
		t.Fatalf("sink holds %q (mode %o)", sink, mode(t, filepath.Join(dir, "sink")))
	}
	waitFile(t, marker, equals("ran\n"))

	s.putKV(t, "app", map[string]any{"user": "bob", "password": "p", "list": "c"})
	waitFile(t, out, contains("user=bob pw=p v=2"))
	waitFile(t, marker, equals("ran\nran\n"))
}

// TestAppRole: role ID and secret ID from files; the secret ID file is
// removed after reading (the default); the sink's token works.
func TestAppRole(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	if err := s.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := s.root.Sys().PutPolicy("app", kvPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := s.root.Logical().Write("auth/approle/role/web", map[string]any{"token_policies": "app", "token_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	rid, err := s.root.Logical().Read("auth/approle/role/web/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := s.root.Logical().Write("auth/approle/role/web/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleFile, secretFile := filepath.Join(dir, "role-id"), filepath.Join(dir, "secret-id")
	must(t, os.WriteFile(roleFile, []byte(rid.Data["role_id"].(string)), 0o600))
	must(t, os.WriteFile(secretFile, []byte(sid.Data["secret_id"].(string)+"\n"), 0o600))
	s.putKV(t, "web", map[string]any{"k": "approle-ok"})
	cfg := parse(t, fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "approle" {
    config {
      role_id_file_path = %q
      secret_id_file_path = %q
    }
  }
  sink "file" { config { path = %q } }
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/web\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, roleFile, secretFile, filepath.Join(dir, "sink"), filepath.Join(dir, "out")))
	start(t, cfg, Options{})
	waitFile(t, filepath.Join(dir, "out"), equals("approle-ok"))
	if _, err := os.Stat(secretFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secret ID file still there: %v", err)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "sink"))
	look, err := newTestClient(t, s.url, string(tok)).Auth().Token().LookupSelf()
	if err != nil || !strings.Contains(fmt.Sprint(look.Data["policies"]), "app") {
		t.Fatalf("sink token: %+v %v", look, err)
	}
}

// jwtKey makes an RSA key and configures a jwt-type method at mount with
// it as jwt_validation_pubkeys and a role "app" for audience "coffer".
func jwtMount(t *testing.T, s *server, mount string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	must(t, err)
	if err := s.root.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	pemPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	if _, err := s.root.Logical().Write("auth/"+mount+"/config", map[string]any{"jwt_validation_pubkeys": []string{pemPub}}); err != nil {
		t.Fatal(err)
	}
	must(t, s.root.Sys().PutPolicy("app", kvPolicy))
	if _, err := s.root.Logical().Write("auth/"+mount+"/role/app", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer", "token_policies": "app",
	}); err != nil {
		t.Fatal(err)
	}
	return k
}

func signJWT(t *testing.T, k *rsa.PrivateKey, sub string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	must(t, err)
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(map[string]any{
		"sub": sub, "aud": "coffer", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}).Serialize()
	must(t, err)
	return tok
}

// TestJWT: a token signed with a local key, checked by the jwt method
// against jwt_validation_pubkeys; the JWT file is removed after reading
// (Vault's default) and the agent renders with the token it got.
func TestJWT(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	k := jwtMount(t, s, "jwt")
	jwtFile := filepath.Join(dir, "jwt")
	must(t, os.WriteFile(jwtFile, []byte(signJWT(t, k, "ci-runner")+"\n"), 0o600))
	s.putKV(t, "ci", map[string]any{"k": "jwt-ok"})
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth {
  method "jwt" { config {
    path = %q
    role = "app"
  } }
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/ci\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, jwtFile, filepath.Join(dir, "out")))
	start(t, cfg, Options{})
	waitFile(t, filepath.Join(dir, "out"), equals("jwt-ok"))
	if _, err := os.Stat(jwtFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("JWT file still there: %v", err)
	}
}

// TestKubernetesMethodShape: the kubernetes method reads the JWT from
// token_path (never removing it) and writes role and jwt to
// <mount_path>/login. The kubernetes auth method itself is tested against
// a real kube-apiserver elsewhere; here a jwt-type mount, whose login takes
// the same two fields, answers, so the request the agent sends is checked
// by a real server.
func TestKubernetesMethodShape(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	k := jwtMount(t, s, "k8s")
	tokenPath := filepath.Join(dir, "sa-token")
	must(t, os.WriteFile(tokenPath, []byte(signJWT(t, k, "system:serviceaccount:ns:app")), 0o600))
	s.putKV(t, "pod", map[string]any{"k": "k8s-ok"})
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth {
  method "kubernetes" {
    mount_path = "auth/k8s"
    config {
      role = "app"
      token_path = %q
    }
  }
}
exit_after_auth = true
template {
  destination = %q
  contents = "{{ with secret \"secret/data/pod\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, tokenPath, filepath.Join(dir, "out")))
	if err := runOnce(t, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "k8s-ok" {
		t.Fatalf("rendered %q", b)
	}
	if _, err := os.Stat(tokenPath); err != nil {
		t.Fatalf("the service-account token must stay: %v", err)
	}
}

// TestExitAfterAuth: with exit_after_auth the agent authenticates, writes
// its sink and templates once, runs their commands, and returns.
func TestExitAfterAuth(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "init", map[string]any{"k": "once"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
exit_after_auth = true
auto_auth {
  method "token_file" { config { token_file_path = %q } }
  sink "file" { config { path = %q } }
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/init\" }}{{ .Data.data.k }}{{ end }}"
  command = ["/bin/sh", "-c", "touch %s"]
}
`, s.url, tok, filepath.Join(dir, "sink"), filepath.Join(dir, "out"), filepath.Join(dir, "ran")))
	if err := runOnce(t, cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"out", "sink", "ran"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// TestErrors: -exit-on-err ends the agent at a missing secret, naming the
// path and leaving no file; error_on_missing_key with
// exit_on_retry_failure gives up after the retries; an auth failure with
// -exit-on-err names the credential file; a bad template fails New with
// the destination and configuration line.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"k": "v"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	conf := func(extra, contents string) string {
		return fmt.Sprintf(`
coffer {
  address = %q
  retry { num_retries = 1 }
}
auto_auth { method "token_file" { config { token_file_path = %q } } }
%s
template {
  destination = %q
  error_on_missing_key = true
  contents = %q
}
`, s.url, tok, extra, filepath.Join(dir, "out"), contents)
	}
	err := runOnce(t, parse(t, conf("", `{{ with secret "secret/data/nope" }}{{ .Data.data.k }}{{ end }}`)), Options{ExitOnErr: true})
	if !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), `secret/data/nope`) {
		t.Fatalf("missing secret: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed render wrote its destination: %v", err)
	}
	err = runOnce(t, parse(t, conf("template_config { exit_on_retry_failure = true }", `{{ with secret "secret/data/app" }}{{ .Data.data.missing }}{{ end }}`)), Options{})
	if !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "after 1 retries") {
		t.Fatalf("missing key: %v", err)
	}
	bad := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "approle" { config { role_id_file_path = %q } } }
`, s.url, filepath.Join(dir, "no-such-file")))
	err = runOnce(t, bad, Options{ExitOnErr: true})
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "no-such-file") {
		t.Fatalf("auth: %v", err)
	}
	_, err = New(parse(t, conf("", `{{ with secret }`)), Options{})
	if err == nil || !strings.Contains(err.Error(), "line 8 of the configuration") {
		t.Fatalf("bad template: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestKVv2PathShim: as in Vault Agent, `secret "secret/shim"` on a KV v2
// mount reads secret/data/shim and `secrets "secret/"` lists
// secret/metadata/, for a token whose policy only names those paths; a
// path already naming data/ is left alone.
func TestKVv2PathShim(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "shim", map[string]any{"k": "shimmed"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "{{ with secret \"secret/shim\" }}{{ .Data.data.k }}{{ end }} {{ with secret \"/secret/data/shim/\" }}{{ .Data.data.k }}{{ end }} {{ range secrets \"secret/\" }}{{ . }}{{ end }}"
}
`, s.url, tok, filepath.Join(dir, "out")))
	if err := runOnceExit(t, cfg); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "shimmed shimmed shim" {
		t.Fatalf("rendered %q", b)
	}
}

// runOnceExit runs cfg with exit_after_auth set.
func runOnceExit(t *testing.T, cfg *config.Agent) error {
	t.Helper()
	cfg.ExitAfterAuth = true
	return runOnce(t, cfg, Options{ExitOnErr: true})
}
