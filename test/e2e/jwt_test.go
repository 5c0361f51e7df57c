package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

const jwtPolicy = `
path "secret/data/team-a/*" {
  capabilities = ["read"]
}
`

// enableJWT mounts the jwt method (as typ, at path) on s, configured with
// iss's discovery document, and writes role "app" with fields.
func enableJWT(t *testing.T, s *server, iss *jwttest.Issuer, typ, path string, fields map[string]any) {
	t.Helper()
	if err := s.client.Sys().EnableAuthWithOptions(path, &api.EnableAuthOptions{Type: typ}); err != nil {
		t.Fatalf("enable %s: %v", typ, err)
	}
	if _, err := s.client.Logical().Write("auth/"+path+"/config", map[string]any{
		"oidc_discovery_url": iss.URL, "oidc_discovery_ca_pem": iss.CAPEM, "bound_issuer": iss.URL,
	}); err != nil {
		t.Fatalf("config: %v", err)
	}
	role := map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer"}
	for k, v := range fields {
		role[k] = v
	}
	if _, err := s.client.Logical().Write("auth/"+path+"/role/app", role); err != nil {
		t.Fatalf("role: %v", err)
	}
}

func k8sToken(t *testing.T, iss *jwttest.Issuer, ns, sa string, edit func(map[string]any)) string {
	t.Helper()
	c := iss.Claims("system:serviceaccount:"+ns+":"+sa, "coffer")
	c["kubernetes.io"] = map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": sa, "uid": "uid-" + sa}}
	if edit != nil {
		edit(c)
	}
	return iss.Sign(t, c)
}

// TestJWTLogin drives the jwt method with the published client against an
// in-process OIDC issuer (discovery + JWKS over TLS): config, role, login,
// the token's policies and metadata, renewal and its re-check of the role.
func TestJWTLogin(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	iss := jwttest.New(t)
	enableJWT(t, s, iss, "jwt", "jwt", map[string]any{
		"bound_claims":   map[string]any{"/kubernetes.io/namespace": []string{"team-a", "team-b"}},
		"claim_mappings": map[string]any{"/kubernetes.io/namespace": "service_account_namespace", "/kubernetes.io/serviceaccount/name": "service_account_name"},
		"token_policies": "team-a", "token_ttl": "30m", "token_max_ttl": "2h",
	})
	if err := s.client.Sys().PutPolicy("team-a", jwtPolicy); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"team-a/db", "team-b/db"} {
		if _, err := s.client.KVv2("secret").Put(ctx, p, map[string]any{"pw": p}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := s.client.Logical().Read("auth/jwt/config")
	if err != nil || cfg.Data["oidc_discovery_url"] != iss.URL || cfg.Data["bound_issuer"] != iss.URL {
		t.Fatalf("read config: %+v %v", cfg, err)
	}
	roles, err := s.client.Logical().List("auth/jwt/role")
	if err != nil || roles == nil || !slices.Contains(roles.Data["keys"].([]any), any("app")) {
		t.Fatalf("list roles: %+v %v", roles, err)
	}

	anon := s.as(t, "")
	login, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": k8sToken(t, iss, "team-a", "api", nil)})
	if err != nil || login.Auth == nil || login.Auth.ClientToken == "" {
		t.Fatalf("login: %+v %v", login, err)
	}
	a := login.Auth
	if !slices.Contains(a.Policies, "team-a") || !slices.Contains(a.Policies, "default") || a.LeaseDuration != 1800 || !a.Renewable ||
		a.Metadata["role"] != "app" || a.Metadata["service_account_namespace"] != "team-a" || a.Metadata["service_account_name"] != "api" {
		t.Fatalf("auth = %+v", a)
	}
	user := s.as(t, a.ClientToken)
	if _, err := user.KVv2("secret").Get(ctx, "team-a/db"); err != nil {
		t.Fatalf("read own secret: %v", err)
	}
	if _, err := user.KVv2("secret").Get(ctx, "team-b/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("read other secret: %v", err)
	}
	self, err := user.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := self.TokenMetadata(); meta["role"] != "app" || meta["service_account_namespace"] != "team-a" {
		t.Fatalf("lookup-self meta = %v", meta)
	}
	if _, err := user.Auth().Token().RenewSelf(600); err != nil {
		t.Fatalf("renew: %v", err)
	}
	// The role's policies change: the old token may not be renewed.
	if _, err := s.client.Logical().Write("auth/jwt/role/app", map[string]any{"token_policies": "team-a,extra"}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Auth().Token().RenewSelf(600); err == nil || !strings.Contains(err.Error(), "policies have changed") {
		t.Fatalf("renew after a policy change: %v", err)
	}
	login2, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": k8sToken(t, iss, "team-b", "web", nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Delete("auth/jwt/role/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, login2.Auth.ClientToken).Auth().Token().RenewSelf(600); err == nil || !strings.Contains(err.Error(), `role "app" no longer exists`) {
		t.Fatalf("renew after the role was deleted: %v", err)
	}
}

// TestJWTAsOIDCMount: the same method mounts as type "oidc", as in Vault.
func TestJWTAsOIDCMount(t *testing.T) {
	t.Parallel()
	s := start(t)
	iss := jwttest.New(t)
	enableJWT(t, s, iss, "oidc", "oidc", nil)
	auths, err := s.client.Sys().ListAuth()
	if err != nil || auths["oidc/"] == nil || auths["oidc/"].Type != "oidc" {
		t.Fatalf("auth list: %v %v", auths, err)
	}
	if _, err := s.as(t, "").Logical().Write("auth/oidc/login", map[string]any{"role": "app", "jwt": k8sToken(t, iss, "ns", "sa", nil)}); err != nil {
		t.Fatalf("login: %v", err)
	}
	// An oidc role (browser flow) is refused with a clear 400.
	_, err = s.client.Logical().Write("auth/oidc/role/web", map[string]any{"user_claim": "sub", "allowed_redirect_uris": "https://x"})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "set role_type=jwt") {
		t.Fatalf("oidc role: %v", err)
	}
}

// TestJWTBadTokens: every bad token of issue 7 gets a 400 over the wire
// that names the failed check and never quotes the token. Each case comes
// from its own address (through a trusted proxy), so that the failed-login
// limiter does not mix them up.
func TestJWTBadTokens(t *testing.T) {
	t.Parallel()
	s := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: loopback})
	iss := jwttest.New(t)
	enableJWT(t, s, iss, "jwt", "jwt", map[string]any{
		"bound_subject": "system:serviceaccount:team-a:api", "bound_claims": map[string]any{"/kubernetes.io/namespace": "team-a"}})
	k := iss.DefaultKey()
	now := time.Now().Unix()
	set := func(key string, v any) func(map[string]any) { return func(c map[string]any) { c[key] = v } }
	good := k8sToken(t, iss, "team-a", "api", nil)
	unknown := jwttest.GenerateKey(t, jose.RS256)
	unknown.ID = "not-published"
	claims := iss.Claims("system:serviceaccount:team-a:api", "coffer")
	claims["kubernetes.io"] = map[string]any{"namespace": "team-a"}
	cases := map[string]struct {
		token string
		msg   string
	}{
		"expired":             {token: k8sToken(t, iss, "team-a", "api", set("exp", now-3600)), msg: "token is expired"},
		"not yet valid":       {token: k8sToken(t, iss, "team-a", "api", set("nbf", now+3600)), msg: "token is not yet valid"},
		"wrong audience":      {token: k8sToken(t, iss, "team-a", "api", set("aud", "vault")), msg: "invalid audience (aud) claim"},
		"wrong issuer":        {token: k8sToken(t, iss, "team-a", "api", set("iss", "https://evil.example")), msg: "invalid issuer (iss) claim"},
		"unknown key id":      {token: jwttest.SignWith(t, unknown, claims), msg: "no known key matches the token's key ID"},
		"alg none":            {token: jwttest.NoneToken(claims), msg: `not allowed: "none"`},
		"HS256 with RSA key":  {token: jwttest.HMACWithPublicKey(k, claims), msg: `not allowed: "HS256"`},
		"signature altered":   {token: jwttest.AlterSignature(good), msg: "signature does not verify"},
		"subject not bound":   {token: k8sToken(t, iss, "team-a", "other", nil), msg: "invalid subject (sub) claim"},
		"claim not bound":     {token: k8sToken(t, iss, "team-a", "api", set("kubernetes.io", map[string]any{"namespace": "team-b"})), msg: `claim "/kubernetes.io/namespace" does not match`},
		"claim of wrong type": {token: k8sToken(t, iss, "team-a", "api", set("exp", "never")), msg: `claim "exp" must be a number`},
		"sub of wrong type":   {token: k8sToken(t, iss, "team-a", "api", set("sub", 7)), msg: `claim "sub" must be a string`},
		"oversized":           {token: k8sToken(t, iss, "team-a", "api", set("pad", strings.Repeat("x", 66_000))), msg: "larger than the 64 KiB limit"},
		"garbage":             {token: "definitely-not-a-jwt", msg: "not a well-formed signed JWT"},
		"empty":               {token: "", msg: "missing token"},
		"no role":             {token: good, msg: `role "ghost" could not be found`},
	}
	names := slices.Sorted(maps.Keys(cases))
	for i, name := range names {
		tc := cases[name]
		anon := s.from(t, "", "203.0.113."+strconv.Itoa(i+1))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			role := "app"
			if name == "no role" {
				role = "ghost"
			}
			_, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": role, "jwt": tc.token})
			var re *api.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || len(re.Errors) != 1 || !strings.Contains(re.Errors[0], tc.msg) {
				t.Fatalf("err = %v; want 400 containing %q", err, tc.msg)
			}
			for _, part := range strings.Split(tc.token, ".") {
				if len(part) > 8 && strings.Contains(re.Errors[0], part) {
					t.Fatalf("message quotes the token: %q", re.Errors[0])
				}
			}
		})
	}
	if _, err := s.as(t, "").Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": good}); err != nil {
		t.Fatalf("the good token: %v", err)
	}
}

// TestJWTFailedLoginsLimited: behind a trusted proxy, one client's failed
// logins to a role earn it a 429 with Retry-After, even with the good
// token, while another client and another role log in as before.
//
// The limiter forgets one failure a second, so an attacker is refused
// only while it guesses faster than that. On a loaded machine ten
// sequential logins can take longer than ten seconds (the test used to
// fail under CI load for that reason alone), so after the burst the
// attacker keeps guessing from several connections while its good token
// is tried until it meets the 429.
func TestJWTFailedLoginsLimited(t *testing.T) {
	t.Parallel()
	s := startBehind(t, httpapi.ForwardedFor{AuthorizedAddrs: loopback})
	iss := jwttest.New(t)
	enableJWT(t, s, iss, "jwt", "jwt", nil)
	if _, err := s.client.Logical().Write("auth/jwt/role/other", map[string]any{"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer"}); err != nil {
		t.Fatal(err)
	}
	good := k8sToken(t, iss, "ns", "sa", nil)
	bad := jwttest.AlterSignature(good)
	attacker := s.from(t, "", "198.51.100.7")
	// A burst of ten is allowed: each of these is the token's own 400.
	for i := range 10 {
		if _, err := attacker.Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": bad}); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	resp, err := loginWhileGuessing(t, attacker, bad, good)
	_ = resp.Body.Close()
	if ra, convErr := strconv.Atoi(resp.Header.Get("Retry-After")); convErr != nil || ra < 1 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if err == nil || !strings.Contains(err.Error(), `too many failed logins for role "app"`) {
		t.Fatalf("429 message: %v", err)
	}
	if _, err := s.from(t, "", "198.51.100.8").Logical().Write("auth/jwt/login", map[string]any{"role": "app", "jwt": good}); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if _, err := attacker.Logical().Write("auth/jwt/login", map[string]any{"role": "other", "jwt": good}); err != nil {
		t.Fatalf("another role: %v", err)
	}
}

// loginWhileGuessing has four goroutines send the bad token to role "app"
// as c (each answer a 400 or a 429) while it logs in with the good one
// until that is refused with a 429, which it returns with the request's
// error. A minute without that 429 fails the test.
func loginWhileGuessing(t *testing.T, c *api.Client, bad, good string) (*api.Response, error) {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	var wg sync.WaitGroup
	wrong := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := c.Logical().WriteWithContext(ctx, "auth/jwt/login", map[string]any{"role": "app", "jwt": bad})
				if st := statusOf(err); st != http.StatusBadRequest && st != http.StatusTooManyRequests && ctx.Err() == nil {
					wrong <- fmt.Errorf("a guess: %v", err)
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer stop()
	logins := 0
	for {
		select {
		case err := <-wrong:
			t.Fatal(err)
		default:
		}
		req := c.NewRequest(http.MethodPut, "/v1/auth/jwt/login")
		if err := req.SetJSONBody(map[string]any{"role": "app", "jwt": good}); err != nil {
			t.Fatal(err)
		}
		resp, err := c.RawRequestWithContext(ctx, req)
		switch {
		case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
			return resp, err
		case ctx.Err() != nil:
			t.Fatalf("the good token was never refused while the guessing went on (%d logins went through): %v", logins, err)
		case err != nil:
			t.Fatalf("the good token: %v", err)
		}
		_ = resp.Body.Close()
		logins++
	}
}
