package csiprovider_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/openbao/openbao/api/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain stops the throwaway database servers and the shared
// kube-apiserver the tests may have started.
func TestMain(m *testing.M) {
	os.Exit(dbtest.Main(runFunc(func() int { return kubetest.Main(m) })))
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

// coffer is a real Coffer server (core + HTTP API) on loopback, unsealed,
// with KV v2 at secret/ and, standing in for the kubernetes method, the
// jwt method at auth/k8s-jwt checking tokens against a locally generated
// key (jwt_validation_pubkeys), with role "app" (policy "app").
type coffer struct {
	core *core.Core
	url  string
	root *api.Client
	key  *jwttest.Key
	ca   []byte // PEM of the HTTPS server's certificate, when TLS
	// share unseals the server again; requests counts the HTTP requests served.
	share    []byte
	requests atomic.Int64
}

const appPolicy = `
path "secret/data/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
`

func startCoffer(t testing.TB, tls bool) *coffer {
	t.Helper()
	ctx := context.Background()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "csi",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	share, root, err := co.DevInit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	c := &coffer{core: co, key: jwttest.GenerateKey(t, jose.RS256), share: share}
	h := httpapi.New(co, httpapi.Options{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() { ts.Close(); _ = co.Seal(context.Background()) })
	c.url = ts.URL
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = ts.URL, 0
	if tls {
		cfg.HttpClient = ts.Client()
		c.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	}
	if c.root, err = api.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	c.root.SetToken(root)
	must(t, c.root.Sys().EnableAuthWithOptions("k8s-jwt", &api.EnableAuthOptions{Type: "jwt"}))
	c.write(t, "auth/k8s-jwt/config", map[string]any{"jwt_validation_pubkeys": []string{c.key.PublicPEM()}, "bound_issuer": "https://kubernetes.default.svc"})
	c.write(t, "auth/k8s-jwt/role/app", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer",
		"bound_subject": "system:serviceaccount:team-a:app", "token_policies": "app", "token_ttl": "1h",
	})
	must(t, c.root.Sys().PutPolicy("app", appPolicy))
	return c
}

func (c *coffer) write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	s, err := c.root.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

func (c *coffer) putKV(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := c.root.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("kv put %s: %v", path, err)
	}
}

// saToken signs a service-account token as the API server would issue it
// for team-a/app with audience aud.
func (c *coffer) saToken(t testing.TB, sub, aud string) string {
	now := time.Now().Unix()
	return jwttest.SignWith(t, c.key, map[string]any{
		"iss": "https://kubernetes.default.svc", "sub": sub, "aud": aud, "iat": now, "nbf": now, "exp": now + 600,
		"kubernetes.io": map[string]any{"namespace": "team-a", "serviceaccount": map[string]any{"name": "app", "uid": "sa-uid"}},
	})
}

// attrs builds a Mount request's attributes as the driver sends them: the
// SecretProviderClass parameters plus the pod's identity and tokens.
func attrs(t testing.TB, params map[string]string, tokens map[string]string) string {
	t.Helper()
	a := map[string]string{
		"csi.storage.k8s.io/pod.name": "web-0", "csi.storage.k8s.io/pod.namespace": "team-a",
		"csi.storage.k8s.io/pod.uid": "pod-uid-1", "csi.storage.k8s.io/serviceAccount.name": "app",
		"secretProviderClass": "app-secrets",
	}
	if tokens != nil {
		tk := map[string]any{}
		for aud, tok := range tokens {
			tk[aud] = map[string]string{"token": tok, "expirationTimestamp": time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)}
		}
		b, _ := json.Marshal(tk)
		a["csi.storage.k8s.io/serviceAccount.tokens"] = string(b)
	}
	for k, v := range params {
		a[k] = v
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startProvider serves p on a real unix socket and returns the driver
// module's own gRPC client for it.
func startProvider(t testing.TB, p *csiprovider.Provider) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "csi") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, csiprovider.Name+".sock")
	ln, err := csiprovider.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- csiprovider.Serve(ctx, ln, p) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return v1alpha1.NewCSIDriverProviderClient(conn)
}

// writeCA writes the server's CA certificate to a file, as a node would
// hold it, and returns its path.
func writeCA(t testing.TB, c *coffer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(p, c.ca, 0o600))
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// files maps path → content of a Mount response, and checks that every
// file has exactly one ObjectVersion.
func files(t testing.TB, r *v1alpha1.MountResponse) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range r.GetFiles() {
		out[f.GetPath()] = string(f.GetContents())
	}
	if len(r.GetObjectVersion()) != len(out) {
		t.Fatalf("%d object versions for %d files", len(r.GetObjectVersion()), len(out))
	}
	return out
}

func versions(r *v1alpha1.MountResponse) map[string]string {
	out := map[string]string{}
	for _, v := range r.GetObjectVersion() {
		out[v.GetId()] = v.GetVersion()
	}
	return out
}

func current(r *v1alpha1.MountResponse) []*v1alpha1.ObjectVersion { return r.GetObjectVersion() }
