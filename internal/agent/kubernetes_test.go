package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/test/kubetest"
)

// TestKubernetesLogin: the agent proves a pod's identity with a
// service-account token the real kube-apiserver issued (TokenRequest, for
// audience "coffer"), the kubernetes auth method checks it with the
// TokenReview API, and the agent renders what the role's policy allows.
// The token file is the projected token a kubelet would mount; token_path
// points at it.
func TestKubernetesLogin(t *testing.T) {
	t.Parallel()
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.GrantAuthDelegator(t, ns, "reviewer")
	reviewer := kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})
	kc.CreateServiceAccount(t, ns, "app")
	podToken := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}})

	s := startServer(t)
	must(t, s.root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}))
	if _, err := s.root.Logical().Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": kc.URL, "kubernetes_ca_cert": string(kc.CAPEM),
		"token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatal(err)
	}
	must(t, s.root.Sys().PutPolicy("app", kvPolicy))
	if _, err := s.root.Logical().Write("auth/kubernetes/role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": ns,
		"audience": "coffer", "token_policies": "app",
	}); err != nil {
		t.Fatal(err)
	}
	s.putKV(t, "pod", map[string]any{"k": "from-kube"})
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "serviceaccount", "token")
	must(t, os.MkdirAll(filepath.Dir(tokenPath), 0o700))
	must(t, os.WriteFile(tokenPath, []byte(podToken), 0o600))
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
exit_after_auth = true
auto_auth {
  method "kubernetes" { config {
    role = "app"
    token_path = %q
  } }
  sink "file" { config { path = %q } }
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/pod\" }}{{ .Data.data.k }}{{ end }}"
}
`, s.url, tokenPath, filepath.Join(dir, "sink"), filepath.Join(dir, "out")))
	if err := runOnce(t, cfg, Options{ExitOnErr: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "from-kube" {
		t.Fatalf("rendered %q", b)
	}
	tok, _ := os.ReadFile(filepath.Join(dir, "sink"))
	look, err := newTestClient(t, s.url, string(tok)).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if md, _ := look.Data["meta"].(map[string]any); md["service_account_namespace"] != ns || md["service_account_name"] != "app" {
		t.Fatalf("token metadata %v", look.Data["meta"])
	}
}
