package csiprovider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/openbao/openbao/api/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/testserver"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain stops the throwaway database servers and the shared
// kube-apiserver the tests may have started.
func TestMain(m *testing.M) {
	os.Exit(dbtest.Main(runFunc(func() int { return kubetest.Main(m) })))
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

// coffer is a real Coffer server (testserver: core + HTTP API) on
// loopback, unsealed, with KV v2 at secret/ and, standing in for the
// kubernetes method, the jwt method at auth/k8s-jwt checking tokens against
// a locally generated key (jwt_validation_pubkeys), with role "app"
// (policy "app").
type coffer struct {
	*testserver.Server
	key *jwttest.Key
	// requests counts the HTTP requests served.
	requests atomic.Int64
}

const appPolicy = `
path "secret/data/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
`

func startCoffer(t testing.TB, tls bool) *coffer {
	t.Helper()
	c := &coffer{key: jwttest.GenerateKey(t, jose.RS256)}
	c.Server = testserver.Start(t, testserver.Options{ClusterName: "csi", TLS: tls, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.requests.Add(1)
			h.ServeHTTP(w, r)
		})
	}})
	must(t, c.Root.Sys().EnableAuthWithOptions("k8s-jwt", &api.EnableAuthOptions{Type: "jwt"}))
	c.write(t, "auth/k8s-jwt/config", map[string]any{"jwt_validation_pubkeys": []string{c.key.PublicPEM()}, "bound_issuer": "https://kubernetes.default.svc"})
	c.write(t, "auth/k8s-jwt/role/app", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer",
		"bound_subject": "system:serviceaccount:team-a:app", "token_policies": "app", "token_ttl": "1h",
	})
	must(t, c.Root.Sys().PutPolicy("app", appPolicy))
	return c
}

func (c *coffer) write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	s, err := c.Root.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return s
}

func (c *coffer) putKV(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := c.Root.KVv2("secret").Put(context.Background(), path, data); err != nil {
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

// writeCA writes the server's CA certificate to a file, as a node would
// hold it, and returns its path.
func writeCA(t testing.TB, c *coffer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(p, c.CAPEM, 0o600))
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
