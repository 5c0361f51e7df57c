// Package mission holds the end-to-end test of the whole Kubernetes
// mission: a pod's service account gets a dynamic PostgreSQL credential
// through the CSI provider, through `coffer agent` and through an injected
// pod spec, all against real parts (kube-apiserver, PostgreSQL, the Coffer
// server behind its HTTP API).
package mission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
	authnv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/testserver"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain stops the throwaway database servers and the shared
// kube-apiserver the test may have started.
func TestMain(m *testing.M) {
	os.Exit(dbtest.Main(runFunc(func() int { return kubetest.Main(m) })))
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

// leaseWait bounds how long the test waits for a lease (default_ttl 10s) to
// expire and its user to be dropped; generous for a loaded machine.
const leaseWait = 2 * time.Minute

const credsTemplate = `{{ with secret "database/creds/app" }}{{ .Data.connection_url }}{{ end }}`

// TestMission: a ServiceAccount in a fresh namespace, its token issued by
// TokenRequest and checked by TokenReview (kubernetes auth), reads
// database/creds/app (PostgreSQL, short leases) (1) through the CSI
// provider's Mount over its unix socket, where an expired lease's user is
// dropped and a rotation call mounts a new version, (2) through `coffer
// agent` with kubernetes auto-auth, and (3) through the init container the
// injector adds to a pod; every URL it gets connects to PostgreSQL.
func TestMission(t *testing.T) {
	kc := kubetest.Shared(t)
	db := dbtest.Postgres(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.GrantAuthDelegator(t, ns, "reviewer")
	reviewer := kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})
	kc.CreateServiceAccount(t, ns, "app")
	// Not bound to a pod, as a token_path file for `coffer agent` may be.
	jwt := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}})

	srv := testserver.Start(t, testserver.Options{ClusterName: "mission"})
	addr, root := srv.URL, srv.Root
	write(t, root, "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	write(t, root, "auth/kubernetes/config", map[string]any{
		"kubernetes_host": kc.URL, "kubernetes_ca_cert": string(kc.CAPEM),
		"token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true,
	})
	if err := root.Sys().PutPolicy("app", `path "database/creds/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	write(t, root, "auth/kubernetes/role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": ns,
		"audience": "coffer", "token_policies": "app", "token_ttl": "1h",
	})
	enableDatabase(t, root, db)

	t.Run("csi", func(t *testing.T) { csiMount(t, kc, db, addr, ns, jwt) })
	t.Run("agent", func(t *testing.T) { agentRender(t, db, addr, jwt) })
	t.Run("injector", func(t *testing.T) { injectedRender(t, kc, db, addr, ns) })
}

// csiMount mounts the credential as a connection URL, with the token the
// kubelet passes a CSI driver: a TokenRequest for the audience bound to a
// Pod object in the API server. It connects, waits for the lease to expire
// (the lease manager drops the user) and checks that a rotation call with
// the pod's current versions mounts a new one. Once the pod is deleted, the
// API server invalidates that token (while the service account's unbound
// token still passes) and Coffer's kubernetes login refuses it: the pod's
// own token is what logged in.
func csiMount(t *testing.T, kc *kubetest.Cluster, db *dbtest.Server, addr, ns, unbound string) {
	pod := kc.CreatePod(t, ns, "csi", "app")
	tr := kc.TokenRequest(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}, Pod: pod})
	tokens, err := json.Marshal(map[string]authnv1.TokenRequestStatus{"coffer": tr})
	must(t, err)
	a, _ := json.Marshal(map[string]string{
		"roleName": "app", "audience": "coffer",
		"objects":                     "- {objectName: db-url, secretPath: database/creds/app, secretKey: connection_url}\n",
		"csi.storage.k8s.io/pod.name": pod.Name, "csi.storage.k8s.io/pod.namespace": ns,
		"csi.storage.k8s.io/pod.uid": string(pod.UID), "csi.storage.k8s.io/serviceAccount.name": "app",
		"csi.storage.k8s.io/serviceAccount.tokens": string(tokens), "secretProviderClass": "app-secrets",
	})
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{DefaultAddress: addr}))
	mount := func(cl v1alpha1.CSIDriverProviderClient, cur []*v1alpha1.ObjectVersion) (*v1alpha1.MountResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return cl.Mount(ctx, &v1alpha1.MountRequest{Attributes: string(a), Permission: "420", CurrentObjectVersion: cur})
	}
	connectMounted := func(cur []*v1alpha1.ObjectVersion) (string, string) {
		t.Helper()
		r, err := mount(cl, cur)
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		if len(r.GetFiles()) != 1 || len(r.GetObjectVersion()) != 1 || r.GetFiles()[0].GetPath() != "db-url" {
			t.Fatalf("Mount response: %d files, %d versions", len(r.GetFiles()), len(r.GetObjectVersion()))
		}
		return db.LoginURL(t, string(r.GetFiles()[0].GetContents())), r.GetObjectVersion()[0].GetVersion()
	}
	user1, v1 := connectMounted(nil)
	awaitDropped(t, db, user1)
	user2, v2 := connectMounted([]*v1alpha1.ObjectVersion{{Id: "db-url", Version: v1}})
	if user2 == user1 || v2 == v1 {
		t.Fatalf("after the lease expired: user %s → %s, version %s → %s", user1, user2, v1, v2)
	}

	kc.DeletePod(t, ns, pod.Name)
	if msg := kc.AwaitTokenRejected(t, tr.Token, []string{"coffer"}); !strings.Contains(msg, "invalidated") {
		t.Errorf("TokenReview of the deleted pod's token: %q, want it invalidated", msg)
	}
	if st, err := kc.TokenReview(context.Background(), unbound, []string{"coffer"}); err != nil || !st.Authenticated {
		t.Fatalf("the service account's unbound token after the pod's deletion: %+v, %v", st, err)
	}
	refuseLogin(t, addr, tr.Token)
	// A provider without the pod's cached login (a restarted one) asks
	// the server, which refuses.
	if _, err := mount(csitest.Serve(t, csiprovider.New(csiprovider.Config{DefaultAddress: addr})), nil); csiprovider.CodeOf(err) != csiprovider.CodePermissionDenied {
		t.Fatalf("Mount with the deleted pod's token: %v, want %s", err, csiprovider.CodePermissionDenied)
	}
}

// refuseLogin checks that the server's kubernetes login refuses jwt as
// invalidated by the API server, with a 403.
func refuseLogin(t *testing.T, addr, jwt string) {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = addr, 0
	c, err := api.NewClient(cfg)
	must(t, err)
	c.SetToken("")
	_, err = c.Logical().Write("auth/kubernetes/login", map[string]any{"role": "app", "jwt": jwt})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "invalidated") {
		t.Fatalf("login with the deleted pod's token: %v, want a 403 saying the API server invalidated it", err)
	}
}

// agentRender runs `coffer agent` once (exit_after_auth) with kubernetes
// auto-auth reading the token from a file, as a kubelet projects it.
func agentRender(t *testing.T, db *dbtest.Server, addr, jwt string) {
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	must(t, os.WriteFile(tokenPath, []byte(jwt), 0o600))
	out := filepath.Join(dir, "db-url")
	src := fmt.Sprintf(`
coffer { address = %q }
exit_after_auth = true
auto_auth {
  method "kubernetes" { config {
    role = "app"
    token_path = %q
  } }
}
template {
  destination = %q
  contents = %q
}
`, addr, tokenPath, out, credsTemplate)
	cfg, err := config.ParseAgent([]byte(src), "mission.hcl")
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, cfg)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	db.LoginURL(t, string(b))
}

func runAgent(t *testing.T, cfg *config.Agent) {
	t.Helper()
	a, err := agent.New(cfg, agent.Options{ExitOnErr: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("agent: %v", err)
	}
}

// awaitDropped polls until the lease manager has revoked the lease and
// user is gone from pg_roles.
func awaitDropped(t *testing.T, db *dbtest.Server, user string) {
	t.Helper()
	deadline := time.Now().Add(leaseWait)
	for db.UserExists(t, user) {
		if time.Now().After(deadline) {
			t.Fatalf("user %s still in pg_roles %v after its lease (10s) should have expired", user, leaseWait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// enableDatabase mounts the database engine against db with role "app"
// (leases of 10s, at most 20s).
func enableDatabase(t *testing.T, root *api.Client, db *dbtest.Server) {
	t.Helper()
	must(t, root.Sys().Mount("database", &api.MountInput{Type: "database"}))
	user, pw := db.NewRoot(t)
	write(t, root, "database/config/db", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": db.TemplateURL(),
		"username": user, "password": pw, "allowed_roles": []string{"app"},
	})
	write(t, root, "database/roles/app", map[string]any{
		"db_name": "db", "default_ttl": "10s", "max_ttl": "20s",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	})
}

func write(t *testing.T, c *api.Client, path string, data map[string]any) {
	t.Helper()
	if _, err := c.Logical().Write(path, data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
