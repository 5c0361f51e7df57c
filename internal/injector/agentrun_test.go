package injector

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/openbao/openbao/api/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// TestInjectedAgentRenders runs the init container's generated
// configuration with the real agent against a real in-process server, so
// what the injector writes is known to work, not only to parse. The
// pod's paths (/coffer/…) are moved under a temporary directory. The
// kubernetes auth method needs a kube-apiserver, so a jwt-type mount at
// auth/kubernetes answers here: its login takes the same role and jwt
// fields the agent's kubernetes method sends (the real method is tested
// against a kube-apiserver in internal/auth/kubernetes).
func TestInjectedAgentRenders(t *testing.T) {
	t.Parallel()
	url, root := startCoffer(t)
	key := jwtAuth(t, root)
	for p, v := range map[string]string{"secret/data/app/config": "postgres://db/app", "secret/data/app/db": "postgres://u:p@db/app"} {
		if _, err := root.Logical().Write(p, map[string]any{"data": map[string]any{"url": v}}); err != nil {
			t.Fatal(err)
		}
	}
	inj, err := New(Config{AgentImage: "img", Address: url})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := mutated(t, inj, testPod(map[string]string{
		"coffer.io/agent-inject":               "true",
		"coffer.io/role":                       "web",
		"coffer.io/agent-inject-secret-config": "secret/data/app/config",
		"coffer.io/agent-inject-secret-db":     "secret/data/app/db",
		"coffer.io/agent-inject-template-db":   `{{ with secret "secret/data/app/db" }}{{ .Data.data.url }}{{ end }}`,
		"coffer.io/agent-inject-file-db":       "sub/db-url",
		"coffer.io/agent-inject-perms-db":      "0440",
	}))
	_, init := findContainer(got.Spec.InitContainers, InitContainerName)
	dir := t.TempDir()
	a, _ := podAgent(t, *init, dir, key)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("the init container's agent: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secrets", "sub", "db-url")); string(b) != "postgres://u:p@db/app" {
		t.Errorf("db-url = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "secrets", "sub", "db-url")); err != nil || st.Mode().Perm() != 0o440 {
		t.Errorf("db-url mode: %v %v", st, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "secrets", "config"))
	if !strings.Contains(string(b), "url:postgres://db/app") {
		t.Errorf("config (default template) = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "secrets", "config")); err != nil || st.Mode().Perm() != DefaultPerms {
		t.Errorf("config mode: %v %v", st, err)
	}
}

// TestNativeSidecarRenders runs the native sidecar's generated
// configuration with the real agent against a real server: its startup
// probe's check (agent.Rendered, what `coffer agent -rendered` runs)
// fails until the agent has written every file, then passes, and the
// agent keeps running (to renew and re-render, as the classic sidecar).
func TestNativeSidecarRenders(t *testing.T) {
	t.Parallel()
	url, root := startCoffer(t)
	key := jwtAuth(t, root)
	inj, err := New(Config{AgentImage: "img", Address: url, NativeSidecar: true})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := mutated(t, inj, testPod(map[string]string{
		"coffer.io/agent-inject":             "true",
		"coffer.io/role":                     "web",
		"coffer.io/agent-inject-secret-db":   "secret/data/app/db",
		"coffer.io/agent-inject-template-db": `{{ with secret "secret/data/app/db" }}{{ .Data.data.url }}{{ end }}`,
	}))
	_, side := findContainer(got.Spec.InitContainers, SidecarContainerName)
	if side == nil || side.StartupProbe == nil {
		t.Fatalf("no native sidecar with a startup probe: %v", names(got.Spec.InitContainers))
	}
	dir := t.TempDir()
	a, cfg := podAgent(t, *side, dir, key)
	if err := agent.Rendered(cfg); !errors.Is(err, agent.ErrNotRendered) {
		t.Fatalf("probe before the agent ran: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	write := func(v string) {
		if _, err := root.Logical().Write("secret/data/app/db", map[string]any{"data": map[string]any{"url": v}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the agent finds no secret yet and retries
	if err := agent.Rendered(cfg); !errors.Is(err, agent.ErrNotRendered) {
		t.Fatalf("probe with the secret missing: %v", err)
	}
	write("postgres://u:p@db/app")
	db := filepath.Join(dir, "secrets", "db")
	waitContent(t, db, "postgres://u:p@db/app")
	if err := agent.Rendered(cfg); err != nil {
		t.Fatalf("probe after the render: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the native sidecar's agent stopped after rendering: %v", err)
	default:
	}
}

// podAgent builds the agent an injected container runs, from the
// configuration in its environment, with the pod's paths (/coffer/…)
// moved under dir and a token signed by key where the projected one
// would be.
func podAgent(t *testing.T, c corev1.Container, dir string, key *rsa.PrivateKey) (*agent.Agent, *config.Agent) {
	t.Helper()
	src, err := base64.StdEncoding.DecodeString(c.Env[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.ReplaceAll(string(src), `"/coffer/`, `"`+dir+`/`))
	cfg, err := config.ParseAgent(src, ConfigEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token", "token"), []byte(signJWT(t, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return a, cfg
}

// waitContent waits until path holds want; the limit is a deadlock guard.
func waitContent(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if b, _ := os.ReadFile(path); string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q", path, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCoffer runs a real core behind the real HTTP API, initialised and
// unsealed, with KV v2 at secret/, and returns its URL and a root client.
func startCoffer(t *testing.T) (string, *api.Client) {
	t.Helper()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "injector",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = ts.URL, 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, err := c.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount secret/: %v", err)
	}
	return ts.URL, c
}

// jwtAuth mounts a jwt-type method at auth/kubernetes with a fresh key and
// a role "web" for audience coffer that may read secret/data/app/*.
func jwtAuth(t *testing.T, root *api.Client) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	pemPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	if _, err := root.Logical().Write("auth/kubernetes/config", map[string]any{"jwt_validation_pubkeys": []string{pemPub}}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("web", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/kubernetes/role/web", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer", "token_policies": "web",
	}); err != nil {
		t.Fatal(err)
	}
	return k
}

func signJWT(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(map[string]any{
		"sub": "system:serviceaccount:shop:app", "aud": "coffer", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
