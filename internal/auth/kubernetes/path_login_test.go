package kubernetes

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

func TestOfflineLogin(t *testing.T) {
	h := offline(t)
	resp, err := h.login("App", h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	a := resp.Auth
	wantMeta := map[string]string{"service_account_name": "app", "service_account_namespace": "team-a",
		"service_account_uid": "uid-team-a-app", "service_account_secret_name": "", "role": "app"}
	for k, v := range wantMeta {
		if a.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, a.Metadata[k], v)
		}
	}
	if !slices.Equal(a.Policies, []string{"reader"}) || !a.Renewable {
		t.Errorf("policies %v renewable %v", a.Policies, a.Renewable)
	}
	if a.Alias == nil || a.Alias.Name != "uid-team-a-app" || a.Alias.Metadata["service_account_namespace"] != "team-a" ||
		a.Alias.Metadata["service_account_name"] != "app" {
		t.Fatalf("alias = %+v", a.Alias)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"alias_name_source": "serviceaccount_name"})
	resp, err = h.login("app", h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	if err != nil || resp.Auth.Alias.Name != "team-a/app" {
		t.Fatalf("alias by name: %v %+v", err, resp)
	}
}

// TestOfflineLegacyToken: a secret-based token (flat claims, issuer
// kubernetes/serviceaccount) logs in with issuer set to that.
func TestOfflineLegacyToken(t *testing.T) {
	h := offline(t)
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"kubernetes_host": h.iss.URL,
		"oidc_discovery_url": h.iss.URL, "oidc_discovery_ca_pem": h.iss.CAPEM, "issuer": defaultIssuer})
	c := map[string]any{"iss": defaultIssuer, "sub": saUserPrefix + "team-a:app", "aud": "coffer",
		"iat": time.Now().Unix(), legacyNamespace: "team-a", legacyName: "app", legacyUID: "u1", legacySecretName: "app-token-x"}
	resp, err := h.login("app", h.iss.Sign(t, c))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if resp.Auth.Metadata["service_account_secret_name"] != "app-token-x" || resp.Auth.Alias.Name != "u1" {
		t.Fatalf("metadata %v", resp.Auth.Metadata)
	}
}

func TestOfflineBadTokens(t *testing.T) {
	h := offline(t)
	good := func() map[string]any { return h.saClaims("team-a", "app", "coffer") }
	edit := func(f func(map[string]any)) string { c := good(); f(c); return h.iss.Sign(t, c) }
	hidden := h.iss.AddHiddenKey(t, jose.RS256)
	now := time.Now().Unix()
	cases := map[string]struct {
		token string
		want  string
	}{
		"expired":           {edit(func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = now-7200, now-7200, now-3600 }), "token is expired"},
		"not yet valid":     {edit(func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = now+3600, now+3600, now+7200 }), "not yet valid"},
		"wrong audience":    {edit(func(c map[string]any) { c["aud"] = "other" }), "invalid audience"},
		"no audience":       {edit(func(c map[string]any) { delete(c, "aud") }), "invalid audience"},
		"wrong issuer":      {edit(func(c map[string]any) { c["iss"] = "https://evil.example" }), "invalid issuer"},
		"unknown kid":       {jwttest.SignWith(t, hidden, good()), "no known key"},
		"alg none":          {jwttest.NoneToken(good()), "algorithm that is not allowed"},
		"HS256 public key":  {jwttest.HMACWithPublicKey(h.iss.DefaultKey(), good()), "algorithm that is not allowed"},
		"altered signature": {jwttest.AlterSignature(h.iss.Sign(t, good())), "signature does not verify"},
		"altered claims": {jwttest.AlterClaims(h.iss.Sign(t, good()), h.saClaims("team-a", "admin", "coffer")),
			"signature does not verify"},
		"namespace of wrong type": {edit(func(c map[string]any) {
			c["kubernetes.io"].(map[string]any)["namespace"] = []any{"team-a"}
		}), `claim "/kubernetes.io/namespace" must be a string`},
		"exp of wrong type":   {edit(func(c map[string]any) { c["exp"] = "tomorrow" }), `claim "exp" must be a number`},
		"sub mismatch":        {edit(func(c map[string]any) { c["sub"] = saUserPrefix + "team-a:other" }), "sub claim does not name"},
		"no service account":  {edit(func(c map[string]any) { delete(c, "kubernetes.io") }), "is missing"},
		"name not bound":      {h.iss.Sign(t, h.saClaims("team-a", "other", "coffer")), "service account name not authorized"},
		"namespace not bound": {h.iss.Sign(t, h.saClaims("team-b", "app", "coffer")), "namespace not authorized"},
		"oversized":           {strings.Repeat("a", 64<<10+1), "more than the 65536 allowed"},
		"garbage":             {"not-a-jwt", "not a well-formed"},
	}
	addr := 0
	for name, c := range cases {
		addr++ // one address per case, so the failure limiter stays out of it
		remote := fmt.Sprintf("10.9.9.%d:1", addr)
		t.Run(name, func(t *testing.T) {
			resp, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": c.token}, remote)
			if resp != nil && resp.Auth != nil {
				t.Fatal("a bad token logged in")
			}
			wantUserError(t, err, logical.ErrPermissionDenied, c.want, c.token)
		})
	}
}

func TestLoginRequestErrors(t *testing.T) {
	h := offline(t)
	tok := h.iss.Sign(t, h.saClaims("team-a", "app", "coffer"))
	_, err := h.login("", tok)
	wantUserError(t, err, logical.ErrInvalidRequest, "missing role", tok)
	_, err = h.login("app", "")
	wantUserError(t, err, logical.ErrInvalidRequest, "missing jwt", tok)
	_, err = h.login("nope", tok)
	wantUserError(t, err, logical.ErrInvalidRequest, `invalid role name "nope"`, tok)
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"token_bound_cidrs": "10.0.0.0/8"})
	_, err = h.login("app", tok)
	wantUserError(t, err, logical.ErrPermissionDenied, "token_bound_cidrs", tok)
	if _, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": tok}, "10.1.2.3:5"); err != nil {
		t.Fatalf("login from inside the CIDR: %v", err)
	}
	n := newHarness(t)
	_, err = n.login("app", tok)
	wantUserError(t, err, logical.ErrInvalidRequest, "could not load backend configuration", tok)
}

// TestLoginRateLimited: past the burst of failures from one address at one
// role, logins get a 429 with Retry-After, even with a good token; another
// address is not affected.
func TestLoginRateLimited(t *testing.T) {
	h := offline(t)
	// The limiter forgets a failure a second: on a clock that stands still,
	// a loaded machine cannot let it forget one between two attempts.
	stopped := time.Now()
	h.b.limit = loginlimit.New(loginlimit.Config{Now: func() time.Time { return stopped }})
	bad := jwttest.AlterSignature(h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	good := h.iss.Sign(t, h.saClaims("team-a", "app", "coffer"))
	var limited error
	for range 20 {
		_, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": bad}, "192.0.2.1:1000")
		if errors.Is(err, logical.ErrRateLimited) {
			limited = err
			break
		}
	}
	var rl *logical.RateLimitedError
	if !errors.As(limited, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("no 429 with Retry-After after repeated failures: %v", limited)
	}
	if _, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": good}, "192.0.2.1:1001"); !errors.Is(err, logical.ErrRateLimited) {
		t.Fatalf("good token from the limited address: %v, want 429", err)
	}
	if _, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": good}, "192.0.2.2:1000"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Unknown roles share one bucket per address.
	for i := range 20 {
		_, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "r" + string(rune('a'+i)), "jwt": good}, "192.0.2.3:1")
		if errors.Is(err, logical.ErrRateLimited) {
			return
		}
	}
	t.Fatal("spraying unknown role names was never limited")
}

func TestRenewal(t *testing.T) {
	h := offline(t)
	resp, err := h.login("app", h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	if err != nil {
		t.Fatal(err)
	}
	renew := func() error {
		return h.fw.RenewAuth(t.Context(), &logical.Request{Auth: resp.Auth, Storage: h.storage})
	}
	if err := renew(); err != nil {
		t.Fatalf("renew: %v", err)
	}
	// The renewal takes the role's current period and max TTL.
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"token_period": "0", "token_max_ttl": "90s"})
	resp.Auth.Period = time.Hour
	if err := renew(); err != nil || resp.Auth.Period != 0 || resp.Auth.ExplicitMaxTTL != 90*time.Second {
		t.Fatalf("renew after the role changed its lifetime: %v period=%v max=%v", err, resp.Auth.Period, resp.Auth.ExplicitMaxTTL)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"bound_service_account_namespaces": "team-b"})
	if err := renew(); !errors.Is(err, logical.ErrPermissionDenied) || !strings.Contains(err.Error(), "namespace not authorized") {
		t.Fatalf("renew after the role stopped binding the namespace: %v", err)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"bound_service_account_namespaces": "team-*", "bound_service_account_names": "web"})
	if err := renew(); err == nil || !strings.Contains(err.Error(), "service account name not authorized") {
		t.Fatalf("renew after the role stopped binding the name: %v", err)
	}
	h.mustDo(t, logical.DeleteOperation, "role/app", nil)
	if err := renew(); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("renew after the role was deleted: %v", err)
	}
}

// TestUnknownKidRefetch: a key the cluster starts signing with is fetched
// on its first use, and a flood of unknown key IDs fetches at most once
// per refresh interval.
func TestUnknownKidRefetch(t *testing.T) {
	h := offline(t)
	k := h.iss.AddHiddenKey(t, jose.RS256)
	before := h.iss.JWKSHits()
	for range 5 {
		_, err := h.login("app", jwttest.SignWith(t, k, h.saClaims("team-a", "app", "coffer")))
		wantUserError(t, err, logical.ErrPermissionDenied, "no known key", "")
	}
	if hits := h.iss.JWKSHits() - before; hits > 1 {
		t.Fatalf("5 unknown-kid logins fetched the JWKS %d times; want at most 1", hits)
	}
	// A cluster that starts signing with a new key: the first login with it
	// fetches the JWKS again.
	h2 := newHarness(t)
	h2.iss = h.iss
	h2.b.verifierOptions = func(c *jwtverify.Config) { c.MinRefreshInterval = time.Millisecond }
	h2.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": h.iss.URL, "oidc_discovery_url": h.iss.URL, "oidc_discovery_ca_pem": h.iss.CAPEM})
	h2.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": "team-a", "audience": "coffer"})
	h.iss.Publish(k)
	time.Sleep(5 * time.Millisecond) // past the 1 ms refresh interval
	if _, err := h2.login("app", jwttest.SignWith(t, k, h.saClaims("team-a", "app", "coffer"))); err != nil {
		t.Fatalf("login with a newly published key: %v", err)
	}
}

// TestTokenReviewUnreachable: a cluster that cannot be reached is a 502
// naming the API server, and never counts as the caller's failure (no
// 429 however often it happens).
func TestTokenReviewUnreachable(t *testing.T) {
	h := newHarness(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "https://" + l.Addr().String()
	l.Close() // nothing listens there now
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"kubernetes_host": host, "token_reviewer_jwt": "a.b.c"})
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": "team-a"})
	tok := h.iss.Sign(t, h.saClaims("team-a", "app"))
	for range 15 {
		_, err := h.login("app", tok)
		if !errors.Is(err, logical.ErrUpstream) || !strings.Contains(err.Error(), host) {
			t.Fatalf("login with the cluster down: %v, want a 502 naming %s", err, host)
		}
		wantUserError(t, err, logical.ErrUpstream, "lookup failed", tok)
	}
}

// TestPEMKeysCheckedBeforeReview: with pem_keys, TokenReview mode refuses
// a bad signature or (with issuer validation on) a wrong issuer locally,
// without asking the cluster; a good token goes on to the TokenReview API
// (unreachable here, so a 502).
func TestPEMKeysCheckedBeforeReview(t *testing.T) {
	h := newHarness(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "https://" + l.Addr().String()
	l.Close()
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"kubernetes_host": host, "token_reviewer_jwt": "a.b.c",
		"pem_keys": h.iss.DefaultKey().PublicPEM(), "issuer": h.iss.URL, "disable_iss_validation": false})
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": "team-a"})
	good := h.iss.Sign(t, h.saClaims("team-a", "app"))
	_, err = h.login("app", jwttest.AlterSignature(good))
	wantUserError(t, err, logical.ErrPermissionDenied, "signature does not verify", good)
	bad := h.saClaims("team-a", "app")
	bad["iss"] = "https://elsewhere.example"
	_, err = h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": h.iss.Sign(t, bad)}, "10.3.3.3:1")
	wantUserError(t, err, logical.ErrPermissionDenied, "invalid issuer", "")
	_, err = h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app", "jwt": good}, "10.3.3.4:1")
	wantUserError(t, err, logical.ErrUpstream, "lookup failed", good)
}

// TestLoginCarriesTokenSettings: the role's token_num_uses, token_period,
// token_type, TTLs and bound CIDRs reach the token a login issues, under
// their current and older names.
func TestLoginCarriesTokenSettings(t *testing.T) {
	h := offline(t)
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"token_num_uses": 3, "token_period": "20m",
		"token_type": "service", "token_ttl": "5m", "token_max_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8,127.0.0.1/32"})
	resp, err := h.login("app", h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	a := resp.Auth
	if a.NumUses != 3 || a.Period != 20*time.Minute || a.TokenType != "service" || a.LeaseDuration != 5*time.Minute || a.ExplicitMaxTTL != time.Hour {
		t.Fatalf("auth settings: num_uses %d period %v type %q ttl %v max %v", a.NumUses, a.Period, a.TokenType, a.LeaseDuration, a.ExplicitMaxTTL)
	}
	if fmt.Sprint(a.BoundCIDRs) != "[10.0.0.0/8 127.0.0.1/32]" {
		t.Fatalf("bound cidrs %v", a.BoundCIDRs)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"num_uses": 0, "period": 0, "token_type": "batch", "ttl": "90s"})
	resp, err = h.login("app", h.iss.Sign(t, h.saClaims("team-a", "app", "coffer")))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if a := resp.Auth; a.NumUses != 0 || a.Period != 0 || a.TokenType != "batch" || a.LeaseDuration != 90*time.Second {
		t.Fatalf("older names: num_uses %d period %v type %q ttl %v", a.NumUses, a.Period, a.TokenType, a.LeaseDuration)
	}
}
