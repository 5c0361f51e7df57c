package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/cli"
	"github.com/cofferhq/coffer/test/kubetest"
)

// cluster is a namespace on the shared API server with a token reviewer
// and an "app" service account.
type cluster struct {
	kc       *kubetest.Cluster
	ns       string
	reviewer string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.GrantAuthDelegator(t, ns, "reviewer")
	kc.CreateServiceAccount(t, ns, "app")
	return &cluster{kc: kc, ns: ns, reviewer: kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})}
}

// enableKubernetes mounts the kubernetes method on s in TokenReview mode
// (offline when offline is set) with role "app" binding namespaces.
func (c *cluster) enableKubernetes(t *testing.T, s *server, offline bool, role map[string]any) {
	t.Helper()
	if err := s.client.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	cfg := map[string]any{"kubernetes_host": c.kc.URL, "kubernetes_ca_cert": string(c.kc.CAPEM),
		"token_reviewer_jwt": c.reviewer, "disable_local_ca_jwt": true}
	if offline {
		cfg["oidc_discovery_url"] = c.kc.Issuer
	}
	s.write(t, "auth/kubernetes/config", cfg)
	r := map[string]any{"bound_service_account_names": "app", "bound_service_account_namespaces": c.ns,
		"audience": "coffer", "token_policies": "reader", "token_ttl": "1h"}
	for k, v := range role {
		r[k] = v
	}
	s.write(t, "auth/kubernetes/role/app", r)
}

func (c *cluster) appToken(t *testing.T, ns string) string {
	return c.kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}})
}

// TestKubeOpenBaoClient logs in through the published OpenBao client in
// both modes, reads the config and role back in Vault's shapes, looks the
// token up and renews it.
func TestKubeOpenBaoClient(t *testing.T) {
	for _, offline := range []bool{false, true} {
		t.Run(map[bool]string{false: "tokenreview", true: "offline"}[offline], func(t *testing.T) {
			c := newCluster(t)
			c.kc.AllowAnonymousDiscovery(t)
			s := startServer(t)
			c.enableKubernetes(t, s, offline, nil)
			cfg, err := s.client.Logical().Read("auth/kubernetes/config")
			if err != nil || cfg.Data["kubernetes_host"] != c.kc.URL || cfg.Data["token_reviewer_jwt_set"] != true {
				t.Fatalf("config read: %v %v", err, cfg)
			}
			if _, ok := cfg.Data["token_reviewer_jwt"]; ok {
				t.Fatal("the config read returns the reviewer token")
			}
			list, err := s.client.Logical().List("auth/kubernetes/role")
			if err != nil || fmt.Sprint(list.Data["keys"]) != "[app]" {
				t.Fatalf("list roles: %v %v", err, list)
			}
			sec, err := s.as(t, "").Logical().Write("auth/kubernetes/login", map[string]any{"role": "app", "jwt": c.appToken(t, c.ns)})
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if sec.Auth.Metadata["service_account_namespace"] != c.ns || sec.Auth.Metadata["role"] != "app" ||
				sec.Auth.LeaseDuration != 3600 || !sec.Auth.Renewable || sec.Auth.EntityID == "" {
				t.Fatalf("auth = %+v", sec.Auth)
			}
			tc := s.as(t, sec.Auth.ClientToken)
			self, err := tc.Auth().Token().LookupSelf()
			if err != nil || self.Data["path"] != "auth/kubernetes/login" {
				t.Fatalf("lookup-self: %v %v", err, self)
			}
			if _, err := tc.Auth().Token().RenewSelf(600); err != nil {
				t.Fatalf("renew-self: %v", err)
			}
			s.write(t, "auth/kubernetes/role/app", map[string]any{"bound_service_account_names": "web"})
			if _, err := tc.Auth().Token().RenewSelf(600); err == nil || !strings.Contains(err.Error(), "no longer binds") {
				t.Fatalf("renew after the role stopped binding the account: %v", err)
			}
		})
	}
}

// TestKubeTemplatedPolicy: one policy templated on the login's namespace
// confines two real service accounts in two namespaces to their own paths.
func TestKubeTemplatedPolicy(t *testing.T) {
	c := newCluster(t)
	nsB := c.kc.NewNamespace(t, nil)
	c.kc.CreateServiceAccount(t, nsB, "app")
	s := startServer(t)
	c.enableKubernetes(t, s, false, map[string]any{"bound_service_account_namespaces": []string{c.ns, nsB}, "token_policies": "per-namespace"})
	auths, err := s.client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	acc := auths["kubernetes/"].Accessor
	policy := fmt.Sprintf(`path "secret/data/{{identity.entity.aliases.%s.metadata.service_account_namespace}}/*" {
  capabilities = ["create", "update", "read"]
}`, acc)
	if err := s.client.Sys().PutPolicy("per-namespace", policy); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{c.ns, nsB} {
		s.write(t, "secret/data/"+ns+"/db", map[string]any{"data": map[string]any{"password": "pw-" + ns}})
	}
	tokens := map[string]string{}
	for _, ns := range []string{c.ns, nsB} {
		sec, err := s.as(t, "").Logical().Write("auth/kubernetes/login", map[string]any{"role": "app", "jwt": c.appToken(t, ns)})
		if err != nil {
			t.Fatalf("login %s: %v", ns, err)
		}
		tokens[ns] = sec.Auth.ClientToken
	}
	for own, tok := range tokens {
		for _, ns := range []string{c.ns, nsB} {
			sec, err := s.as(t, tok).Logical().Read("secret/data/" + ns + "/db")
			if ns == own {
				if err != nil || sec.Data["data"].(map[string]any)["password"] != "pw-"+ns {
					t.Fatalf("%s reading its own secret: %v %v", own, err, sec)
				}
				continue
			}
			var re *api.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
				t.Fatalf("%s reading %s's secret: %v, want 403", own, ns, err)
			}
		}
		if _, err := s.as(t, tok).Logical().Write("secret/data/"+own+"/new", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
			t.Fatalf("%s writing under its own path: %v", own, err)
		}
	}
}

// TestKubeRateLimitHTTP: repeated failed logins from one address at one
// role get a 429 with Retry-After over HTTP. The limiter forgets one
// failure a second, so the attempts come from four connections at once: a
// loaded machine serving them one by one more slowly than that would never
// be limited, and the test would say nothing about the limiter.
func TestKubeRateLimitHTTP(t *testing.T) {
	c := newCluster(t)
	s := startServer(t)
	c.enableKubernetes(t, s, false, nil)
	c.kc.CreateServiceAccount(t, c.ns, "other")
	bad := c.kc.Token(t, c.ns, "other", kubetest.TokenOptions{Audiences: []string{"coffer"}}) // a real token the role does not bind
	body := fmt.Sprintf(`{"role":"app","jwt":%q}`, bad)
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	limited := make(chan string, 4) // a 429's Retry-After, or what went wrong
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/auth/kubernetes/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the context ended
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusTooManyRequests:
					limited <- "429, Retry-After " + resp.Header.Get("Retry-After")
					return
				case resp.StatusCode != http.StatusForbidden || !strings.Contains(string(msg), "service account name not authorized"):
					limited <- fmt.Sprintf("refusal: %d %s", resp.StatusCode, msg)
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer stop()
	select {
	case got := <-limited:
		if got == "429, Retry-After " || !strings.HasPrefix(got, "429, Retry-After ") {
			t.Fatal(got)
		}
	case <-ctx.Done():
		t.Fatal("a minute of failed logins from four connections was never rate-limited")
	}
}

// TestKubeCLI logs in with `coffer login -method=kubernetes role=… jwt=@file`
// and `coffer write auth/kubernetes/login …`, running the CLI in-process.
func TestKubeCLI(t *testing.T) {
	c := newCluster(t)
	s := startServer(t)
	c.enableKubernetes(t, s, false, nil)
	dir := t.TempDir()
	jwtFile := filepath.Join(dir, "token")
	if err := os.WriteFile(jwtFile, []byte(c.appToken(t, c.ns)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COFFER_ADDR", s.url)
	t.Setenv("COFFER_MAX_RETRIES", "0")
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("COFFER_TOKEN", "")
	t.Setenv("VAULT_TOKEN", "")
	out := captureStdout(t, func() {
		if code := cli.Main([]string{"coffer", "login", "-method=kubernetes", "role=app", "jwt=@" + jwtFile}); code != 0 {
			t.Fatalf("coffer login exited %d", code)
		}
	})
	if !strings.Contains(out, "Success!") {
		t.Fatalf("login output: %s", out)
	}
	stored, err := os.ReadFile(filepath.Join(dir, "coffer", "token"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := s.as(t, strings.TrimSpace(string(stored))).Auth().Token().LookupSelf()
	if err != nil || self.Data["meta"].(map[string]any)["service_account_namespace"] != c.ns {
		t.Fatalf("the stored token: %v %v", err, self)
	}
	out = captureStdout(t, func() {
		if code := cli.Main([]string{"coffer", "write", "-field=token_policies", "auth/kubernetes/login", "role=app", "jwt=@" + jwtFile}); code != 0 {
			t.Fatalf("coffer write exited %d", code)
		}
	})
	if !strings.Contains(out, "reader") {
		t.Fatalf("coffer write auth/kubernetes/login printed %q", out)
	}
}

// captureStdout runs f with os.Stdout going to a pipe and returns what it
// wrote; the CLI's Main writes there.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, r)
		done <- b.String()
	}()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	os.Stdout = old
	return <-done
}

// TestJWTMethodWithKubernetesIssuer is workload identity federation with
// the jwt method: a real service-account token checked offline against the
// API server's OIDC discovery document and JWKS, bound by its namespace
// claim.
func TestJWTMethodWithKubernetesIssuer(t *testing.T) {
	c := newCluster(t)
	c.kc.AllowAnonymousDiscovery(t)
	s := startServer(t)
	if err := s.client.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	s.write(t, "auth/jwt/config", map[string]any{"oidc_discovery_url": c.kc.Issuer,
		"oidc_discovery_ca_pem": string(c.kc.CAPEM), "bound_issuer": c.kc.Issuer})
	s.write(t, "auth/jwt/role/app", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer",
		"bound_claims_type": "glob", "bound_claims": map[string]any{"/kubernetes.io/namespace": c.ns},
		"claim_mappings": map[string]any{"/kubernetes.io/serviceaccount/name": "service_account"},
		"token_policies": "reader"})
	sec, err := s.as(t, "").Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": c.appToken(t, c.ns)})
	if err != nil {
		t.Fatalf("jwt login with a service-account token: %v", err)
	}
	if sec.Auth.Metadata["service_account"] != "app" || sec.Auth.Metadata["role"] != "app" {
		t.Fatalf("metadata %v", sec.Auth.Metadata)
	}
	other := c.kc.NewNamespace(t, nil)
	c.kc.CreateServiceAccount(t, other, "app")
	if _, err := s.as(t, "").Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": c.appToken(t, other)}); err == nil {
		t.Fatal("a token of another namespace logged in")
	}
	if _, err := s.as(t, "").Logical().Write("auth/jwt/login", map[string]any{"role": "app",
		"jwt": c.kc.Token(t, c.ns, "app", kubetest.TokenOptions{Audiences: []string{"other"}})}); err == nil {
		t.Fatal("a token for another audience logged in")
	}
}
