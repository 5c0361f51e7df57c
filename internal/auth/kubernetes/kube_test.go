package kubernetes

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain runs every test of this directory (both packages) with one
// real kube-apiserver, started by the first test that asks for it.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// kubeEnv is a namespace with a reviewer allowed to create TokenReviews
// and read namespaces, an "app" service account with a pod, and a backend
// whose pod-local credentials directory is empty.
type kubeEnv struct {
	kc       *kubetest.Cluster
	ns       string
	reviewer string // the reviewer's token
	appUID   string
	h        *harness
}

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, map[string]string{"team": "a"})
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.GrantAuthDelegator(t, ns, "reviewer")
	sa := kc.CreateServiceAccount(t, ns, "app")
	e := &kubeEnv{kc: kc, ns: ns, appUID: string(sa.UID), h: newHarness(t),
		reviewer: kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})}
	return e
}

// tokenReview configures TokenReview mode and role "app" binding
// e.ns/app with audience coffer.
func (e *kubeEnv) tokenReview(t *testing.T) *kubeEnv {
	t.Helper()
	e.h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": e.kc.URL, "kubernetes_ca_cert": string(e.kc.CAPEM), "token_reviewer_jwt": e.reviewer,
	})
	e.role(t, nil)
	return e
}

// offline configures offline mode against the API server's discovery
// document and JWKS, read anonymously, and role "app".
func (e *kubeEnv) offline(t *testing.T) *kubeEnv {
	t.Helper()
	e.kc.AllowAnonymousDiscovery(t)
	e.h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": e.kc.URL, "kubernetes_ca_cert": string(e.kc.CAPEM),
		"oidc_discovery_url": e.kc.Issuer, "disable_local_ca_jwt": true,
	})
	e.role(t, nil)
	return e
}

func (e *kubeEnv) role(t *testing.T, extra map[string]any) {
	t.Helper()
	r := map[string]any{"bound_service_account_names": "app", "bound_service_account_namespaces": e.ns,
		"audience": "coffer", "token_policies": "reader"}
	for k, v := range extra {
		r[k] = v
	}
	e.h.mustDo(t, logical.UpdateOperation, "role/app", r)
}

// token is a real token of e.ns/app from the TokenRequest API.
func (e *kubeEnv) token(t *testing.T, opts kubetest.TokenOptions) string {
	t.Helper()
	if opts.Audiences == nil {
		opts.Audiences = []string{"coffer"}
	}
	return e.kc.Token(t, e.ns, "app", opts)
}

// forged signs claims with the cluster's own service-account key and key
// ID, for tokens the TokenRequest API will not issue (expired, not yet
// valid, another issuer, a claim of the wrong type): only their claims can
// tell them from real ones.
func (e *kubeEnv) forged(t *testing.T, edit func(map[string]any)) string {
	t.Helper()
	now := time.Now().Unix()
	c := map[string]any{
		"iss": e.kc.Issuer, "sub": saUserPrefix + e.ns + ":app", "aud": []string{"coffer"},
		"iat": now, "nbf": now, "exp": now + 600,
		"kubernetes.io": map[string]any{"namespace": e.ns,
			"serviceaccount": map[string]any{"name": "app", "uid": e.appUID}},
	}
	if edit != nil {
		edit(c)
	}
	return jwttest.SignWith(t, e.clusterKey(), c)
}

func (e *kubeEnv) clusterKey() *jwttest.Key {
	return &jwttest.Key{ID: e.kc.SigningKeyID, Alg: jose.RS256, Private: e.kc.SigningKey}
}

// loginOK logs in with token and checks who it proved.
func (e *kubeEnv) loginOK(t *testing.T, token string) *logical.Auth {
	t.Helper()
	resp, err := e.h.login("app", token)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	a := resp.Auth
	if a.Metadata["service_account_namespace"] != e.ns || a.Metadata["service_account_name"] != "app" ||
		a.Metadata["service_account_uid"] != e.appUID || a.Alias.Name != e.appUID {
		t.Fatalf("login proved %v (alias %q); want %s/app uid %s", a.Metadata, a.Alias.Name, e.ns, e.appUID)
	}
	return a
}

// refused checks that token is refused with a 403 whose message contains
// want and none of the token.
func (e *kubeEnv) refused(t *testing.T, token, want string) {
	t.Helper()
	resp, err := e.h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": token}, uniqueAddr())
	if resp != nil && resp.Auth != nil {
		t.Fatal("a bad token logged in")
	}
	wantUserError(t, err, logical.ErrPermissionDenied, want, token)
}

var addrSeq atomic.Int64

// uniqueAddr is a fresh client address, so the failure limiter never
// decides a refusal test.
func uniqueAddr() string {
	n := addrSeq.Add(1)
	return fmt.Sprintf("10.77.%d.%d:1", n/250, n%250+1)
}

// bothModes runs f in TokenReview and in offline mode, each with its own
// namespace and backend.
func bothModes(t *testing.T, f func(t *testing.T, e *kubeEnv)) {
	t.Run("tokenreview", func(t *testing.T) { f(t, newKubeEnv(t).tokenReview(t)) })
	t.Run("offline", func(t *testing.T) { f(t, newKubeEnv(t).offline(t)) })
}

func TestKubeLoginTokenReview(t *testing.T) {
	e := newKubeEnv(t).tokenReview(t)
	pod := e.kc.CreatePod(t, e.ns, "web", "app")
	a := e.loginOK(t, e.token(t, kubetest.TokenOptions{Pod: pod}))
	if len(a.Policies) != 1 || a.Policies[0] != "reader" || a.Metadata["role"] != "app" {
		t.Fatalf("auth = %+v", a)
	}
	// The forged control token (the cluster's key, the right claims) is
	// accepted too, so the forged refusals below fail for what they alter.
	e.loginOK(t, e.forged(t, nil))
}

func TestKubeLoginOffline(t *testing.T) {
	e := newKubeEnv(t).offline(t)
	e.loginOK(t, e.token(t, kubetest.TokenOptions{}))
	e.loginOK(t, e.forged(t, nil))
	// A token without an audience carries the API server's own, which a
	// role without audience accepts.
	e.role(t, map[string]any{"audience": ""})
	e.loginOK(t, e.kc.Token(t, e.ns, "app", kubetest.TokenOptions{}))
}

// TestKubeOfflineDiscoveryAsReviewer: without anonymous discovery, offline
// mode fetches the discovery document and JWKS with the reviewer token
// (service accounts may read them by default).
func TestKubeOfflineDiscoveryAsReviewer(t *testing.T) {
	e := newKubeEnv(t)
	e.h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": e.kc.URL, "kubernetes_ca_cert": string(e.kc.CAPEM), "token_reviewer_jwt": e.reviewer,
		"oidc_discovery_url": e.kc.Issuer,
	})
	e.role(t, nil)
	e.loginOK(t, e.token(t, kubetest.TokenOptions{}))
}

// TestKubeLocalCredentials: running "in a pod", the reviewer token and CA
// come from the service-account directory, re-read when the token rotates.
func TestKubeLocalCredentials(t *testing.T) {
	e := newKubeEnv(t)
	dir := t.TempDir()
	now := time.Now()
	clock := func() time.Time { return now }
	e.h.b.localToken = newLocalFile(dir, "token", clock)
	e.h.b.localCA = newLocalFile(dir, "ca.crt", clock)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.crt", string(e.kc.CAPEM))
	// A reviewer token the API server does not accept (another account's,
	// not allowed to review): the cluster's refusal is a 502, not the
	// caller's fault.
	e.kc.CreateServiceAccount(t, e.ns, "nobody")
	write("token", e.kc.Token(t, e.ns, "nobody", kubetest.TokenOptions{}))
	e.h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"kubernetes_host": e.kc.URL})
	e.role(t, nil)
	_, err := e.h.login("app", e.token(t, kubetest.TokenOptions{}))
	if !errors.Is(err, logical.ErrUpstream) || !strings.Contains(err.Error(), "TokenReview") {
		t.Fatalf("login with a reviewer that may not review: %v, want a 502", err)
	}
	// The kubelet rotates the file; the next look (a second later) uses it.
	write("token", e.reviewer+"\n")
	now = now.Add(2 * localRecheck)
	e.loginOK(t, e.token(t, kubetest.TokenOptions{}))
}

// TestKubeNamespaceSelector: a namespace outside the bound list is
// accepted when its labels satisfy the role's selector, read through the
// API with the reviewer's token.
func TestKubeNamespaceSelector(t *testing.T) {
	e := newKubeEnv(t).tokenReview(t)
	grantNamespaceReader(t, e.kc, e.ns, "reviewer")
	e.role(t, map[string]any{"bound_service_account_namespaces": "no-such-namespace-*",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"a"}}`})
	e.loginOK(t, e.token(t, kubetest.TokenOptions{}))
	e.role(t, map[string]any{"bound_service_account_namespaces": "no-such-namespace-*",
		"bound_service_account_namespace_selector": `{"matchLabels":{"team":"b"}}`})
	e.refused(t, e.token(t, kubetest.TokenOptions{}), "namespace not authorized")
}

// grantNamespaceReader lets ns/name read namespaces, for the selector.
func grantNamespaceReader(t *testing.T, kc *kubetest.Cluster, ns, name string) {
	t.Helper()
	ctx := context.Background()
	role := kubetest.UniqueName(t)
	if _, err := kc.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kc.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), role, metav1.DeleteOptions{})
		_ = kc.Client.RbacV1().ClusterRoles().Delete(context.Background(), role, metav1.DeleteOptions{})
	})
	// RBAC changes reach the authorizer's cache a moment later.
	deadline := time.Now().Add(time.Minute)
	cs, err := kc.ClientFor(kc.Token(t, ns, name, kubetest.TokenOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the reviewer never became able to read namespaces: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The bad tokens, each its own test, in both modes where both apply.

func TestKubeRejectsExpired(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		now := time.Now().Unix()
		tok := e.forged(t, func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = now-7200, now-7200, now-3600 })
		e.refused(t, tok, e.pick("token is expired", "lookup failed"))
	})
}

func TestKubeRejectsNotYetValid(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		now := time.Now().Unix()
		tok := e.forged(t, func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = now+3600, now+3600, now+7200 })
		e.refused(t, tok, e.pick("not yet valid", "lookup failed"))
	})
}

func TestKubeRejectsWrongAudience(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		e.refused(t, e.token(t, kubetest.TokenOptions{Audiences: []string{"another-service"}}), e.pick("invalid audience", "lookup failed"))
	})
}

func TestKubeRejectsWrongIssuer(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		e.refused(t, e.forged(t, func(c map[string]any) { c["iss"] = "https://issuer.evil.example" }), e.pick("invalid issuer", "lookup failed"))
	})
}

func TestKubeRejectsUnknownKeyID(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c := map[string]any{"iss": e.kc.Issuer, "sub": saUserPrefix + e.ns + ":app", "aud": "coffer",
			"iat": time.Now().Unix(), "exp": time.Now().Unix() + 600,
			"kubernetes.io": map[string]any{"namespace": e.ns, "serviceaccount": map[string]any{"name": "app", "uid": e.appUID}}}
		tok := jwttest.SignWith(t, &jwttest.Key{ID: "not-a-cluster-key", Alg: jose.RS256, Private: k}, c)
		e.refused(t, tok, e.pick("no known key", "lookup failed"))
	})
}

func TestKubeRejectsAlgNone(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		c := map[string]any{"iss": e.kc.Issuer, "sub": saUserPrefix + e.ns + ":app", "aud": "coffer", "exp": time.Now().Unix() + 600,
			"kubernetes.io": map[string]any{"namespace": e.ns, "serviceaccount": map[string]any{"name": "app", "uid": e.appUID}}}
		e.refused(t, jwttest.NoneToken(c), e.pick("algorithm that is not allowed", "lookup failed"))
	})
}

func TestKubeRejectsHS256WithPublicKey(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		c := map[string]any{"iss": e.kc.Issuer, "sub": saUserPrefix + e.ns + ":app", "aud": "coffer", "exp": time.Now().Unix() + 600,
			"kubernetes.io": map[string]any{"namespace": e.ns, "serviceaccount": map[string]any{"name": "app", "uid": e.appUID}}}
		e.refused(t, jwttest.HMACWithPublicKey(e.clusterKey(), c), e.pick("algorithm that is not allowed", "lookup failed"))
	})
}

func TestKubeRejectsAlteredSignature(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		e.refused(t, jwttest.AlterSignature(e.token(t, kubetest.TokenOptions{})), e.pick("signature does not verify", "lookup failed"))
	})
}

func TestKubeRejectsUnboundServiceAccount(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		e.kc.CreateServiceAccount(t, e.ns, "other")
		e.refused(t, e.kc.Token(t, e.ns, "other", kubetest.TokenOptions{Audiences: []string{"coffer"}}), "service account name not authorized")
	})
}

func TestKubeRejectsUnboundNamespace(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		ns2 := e.kc.NewNamespace(t, map[string]string{"team": "a"})
		e.kc.CreateServiceAccount(t, ns2, "app")
		e.refused(t, e.kc.Token(t, ns2, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}}), "namespace not authorized")
	})
}

func TestKubeRejectsDeletedServiceAccount(t *testing.T) {
	e := newKubeEnv(t).tokenReview(t)
	tok := e.token(t, kubetest.TokenOptions{})
	e.loginOK(t, tok)
	e.kc.DeleteServiceAccount(t, e.ns, "app")
	e.kc.AwaitTokenRejected(t, tok, []string{"coffer"})
	e.refused(t, tok, "lookup failed: service account unauthorized")
}

func TestKubeRejectsDeletedPod(t *testing.T) {
	e := newKubeEnv(t).tokenReview(t)
	pod := e.kc.CreatePod(t, e.ns, "web", "app")
	tok := e.token(t, kubetest.TokenOptions{Pod: pod})
	e.loginOK(t, tok)
	e.kc.DeletePod(t, e.ns, "web")
	e.kc.AwaitTokenRejected(t, tok, []string{"coffer"})
	e.refused(t, tok, "lookup failed: service account unauthorized")
}

func TestKubeRejectsClaimOfWrongType(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		tok := e.forged(t, func(c map[string]any) {
			c["kubernetes.io"].(map[string]any)["namespace"] = 42
		})
		e.refused(t, tok, e.pick(`claim "/kubernetes.io/namespace" must be a string`, "lookup failed"))
	})
}

func TestKubeRejectsOversized(t *testing.T) {
	bothModes(t, func(t *testing.T, e *kubeEnv) {
		tok := e.forged(t, func(c map[string]any) { c["padding"] = strings.Repeat("x", 70<<10) })
		e.refused(t, tok, "more than the 65536 allowed")
	})
}

// pick is the expected message in offline mode, or in TokenReview mode.
func (e *kubeEnv) pick(offline, review string) string {
	if e.h.b.state.Load().cfg.offline() {
		return offline
	}
	return review
}
