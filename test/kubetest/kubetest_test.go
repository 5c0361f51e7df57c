package kubetest_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cofferhq/coffer/test/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// audience is what Coffer's kubernetes role would bind.
const audience = "coffer"

func TestTokenReview(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, map[string]string{"team": "a"})
	kc.CreateServiceAccount(t, ns, "app")
	tok := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{audience}})
	ctx := context.Background()

	st, err := kc.TokenReview(ctx, tok, []string{audience})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Authenticated {
		t.Fatalf("a fresh token is not authenticated: %q", st.Error)
	}
	if want := "system:serviceaccount:" + ns + ":app"; st.User.Username != want {
		t.Errorf("username = %q, want %q", st.User.Username, want)
	}
	if !slices.Contains(st.User.Groups, "system:serviceaccounts:"+ns) {
		t.Errorf("groups %v lack the namespace's group", st.User.Groups)
	}
	if !slices.Equal(st.Audiences, []string{audience}) {
		t.Errorf("audiences = %v, want [%s]", st.Audiences, audience)
	}

	st, err = kc.TokenReview(ctx, tok, []string{"someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Authenticated {
		t.Error("a token is authenticated for an audience it was not issued for")
	}

	kc.DeleteServiceAccount(t, ns, "app")
	msg := kc.AwaitTokenRejected(t, tok, []string{audience})
	if msg == "" {
		t.Error("the review of a deleted service account's token gives no reason")
	}
	t.Logf("deleted service account: %s", msg)
}

func TestPodBoundToken(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	pod := kc.CreatePod(t, ns, "web", "app")
	tok := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{audience}, Pod: pod})

	st, err := kc.TokenReview(context.Background(), tok, []string{audience})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Authenticated {
		t.Fatalf("a pod-bound token is not authenticated: %q", st.Error)
	}
	if got := st.User.Extra["authentication.kubernetes.io/pod-name"]; !slices.Equal(got, []string{"web"}) {
		t.Errorf("pod-name extra = %v, want [web]", got)
	}
	kc.DeletePod(t, ns, "web")
	kc.AwaitTokenRejected(t, tok, []string{audience})
}

// TestReviewerNeedsAuthDelegator checks RBAC is really on: a service
// account may create TokenReviews, as Coffer's token reviewer does, only
// once it holds system:auth-delegator.
func TestReviewerNeedsAuthDelegator(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.CreateServiceAccount(t, ns, "app")
	reviewer, err := kc.ClientFor(kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	tok := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{audience}})
	ctx := context.Background()

	if _, err := kubetest.ReviewToken(ctx, reviewer, tok, []string{audience}); !apierrors.IsForbidden(err) {
		t.Fatalf("a reviewer without system:auth-delegator: err = %v, want forbidden", err)
	}
	kc.GrantAuthDelegator(t, ns, "reviewer")
	st, err := kubetest.ReviewToken(ctx, reviewer, tok, []string{audience})
	if err != nil {
		t.Fatalf("a reviewer with system:auth-delegator: %v", err)
	}
	if !st.Authenticated {
		t.Fatalf("not authenticated: %q", st.Error)
	}
}

// TestOIDCDiscovery fetches the discovery document and the JWKS as an
// offline validator would, and verifies an issued token with them.
func TestOIDCDiscovery(t *testing.T) {
	kc := kubetest.Shared(t)
	hc := kc.HTTPClient()
	if code, _ := get(t, hc, kc.URL+kubetest.DiscoveryPath); code == http.StatusOK {
		t.Fatal("anonymous callers read the discovery document before it was allowed")
	}
	kc.AllowAnonymousDiscovery(t)

	code, body := get(t, hc, kc.URL+kubetest.DiscoveryPath)
	if code != http.StatusOK {
		t.Fatalf("discovery: %d %s", code, body)
	}
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != kc.Issuer || doc.JWKSURI != kc.URL+kubetest.JWKSPath || !slices.Contains(doc.Algs, "RS256") {
		t.Fatalf("discovery document = %+v; want issuer %s, jwks_uri %s, RS256", doc, kc.Issuer, kc.URL+kubetest.JWKSPath)
	}

	code, body = get(t, hc, doc.JWKSURI)
	if code != http.StatusOK {
		t.Fatalf("jwks: %d %s", code, body)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(body, &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Key(kc.SigningKeyID)) != 1 {
		t.Fatalf("the JWKS has no key %q (SigningKeyID)", kc.SigningKeyID)
	}

	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	tok := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{audience}})
	claims := verify(t, tok, jwks)
	if err := claims.Validate(jwt.Expected{
		Issuer:      kc.Issuer,
		Subject:     "system:serviceaccount:" + ns + ":app",
		AnyAudience: jwt.Audience{audience},
		Time:        time.Now(),
	}); err != nil {
		t.Fatalf("claims: %v", err)
	}

	// The same claims signed by another key must not verify.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(t, other, kc.SigningKeyID, claims)
	parsed, err := jwt.ParseSigned(forged, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Claims(jwks, &jwt.Claims{}); err == nil {
		t.Fatal("a token signed by a foreign key verified against the JWKS")
	}
}

// TestForgedTokens shows the cluster's own signing key makes tokens the
// API server cannot tell from its own, so auth tests can craft expired
// or otherwise bad ones; only the claims checks catch those.
func TestForgedTokens(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	tok := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{audience}})
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		change func(map[string]any)
		valid  bool
	}{
		"same claims": {change: func(map[string]any) {}, valid: true},
		"expired": {change: func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}},
		"wrong issuer": {change: func(c map[string]any) { c["iss"] = "https://elsewhere.invalid" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := map[string]any{}
			for k, v := range claims {
				c[k] = v
			}
			tc.change(c)
			st, err := kc.TokenReview(context.Background(), sign(t, kc.SigningKey, kc.SigningKeyID, c), []string{audience})
			if err != nil {
				t.Fatal(err)
			}
			if st.Authenticated != tc.valid {
				t.Fatalf("authenticated = %v, want %v (%s)", st.Authenticated, tc.valid, st.Error)
			}
		})
	}
}

func verify(t *testing.T, tok string, jwks jose.JSONWebKeySet) jwt.Claims {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := parsed.Headers[0].KeyID; len(jwks.Key(kid)) != 1 {
		t.Fatalf("token kid %q is not in the JWKS", kid)
	}
	var claims jwt.Claims
	if err := parsed.Claims(jwks, &claims); err != nil {
		t.Fatalf("verify with the JWKS: %v", err)
	}
	return claims
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t *testing.T, hc *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, []byte(strings.TrimSpace(string(body)))
}
