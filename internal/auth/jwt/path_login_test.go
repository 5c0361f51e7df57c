package jwt

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

// k8sClaims are the claims of a projected Kubernetes service-account token.
func k8sClaims(iss *jwttest.Issuer, ns, sa string, aud ...string) map[string]any {
	c := iss.Claims("system:serviceaccount:"+ns+":"+sa, aud...)
	c["kubernetes.io"] = map[string]any{
		"namespace":      ns,
		"serviceaccount": map[string]any{"name": sa, "uid": "uid-" + sa},
		"pod":            map[string]any{"name": sa + "-7d9f", "uid": "pod-uid"},
	}
	c["groups"] = []any{"system:serviceaccounts", "system:serviceaccounts:" + ns}
	return c
}

func TestLoginAuthShape(t *testing.T) {
	t.Parallel()
	h := configured(t)
	writeRole(t, h, "app", map[string]any{
		"bound_audiences": "coffer", "bound_claims_type": "glob",
		"bound_claims":   map[string]any{"/kubernetes.io/namespace": "team-*"},
		"claim_mappings": map[string]any{"/kubernetes.io/namespace": "service_account_namespace", "/kubernetes.io/serviceaccount/name": "service_account_name"},
		"groups_claim":   "groups",
		"token_policies": "reader,writer", "token_ttl": "20m", "token_max_ttl": "1h", "token_num_uses": 3,
		"token_bound_cidrs": "127.0.0.0/8",
	})
	tok := h.iss.Sign(t, k8sClaims(h.iss, "team-a", "api", "coffer"))
	r, err := h.login("APP", tok) // role names are case-insensitive at login
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"role": "app", "service_account_namespace": "team-a", "service_account_name": "api"}
	want := &logical.Auth{
		DisplayName: "system:serviceaccount:team-a:api", Metadata: meta,
		Alias:        &logical.Alias{Name: "system:serviceaccount:team-a:api", Metadata: meta},
		GroupAliases: []*logical.Alias{{Name: "system:serviceaccounts"}, {Name: "system:serviceaccounts:team-a"}},
		Policies:     []string{"reader", "writer"}, LeaseDuration: 20 * time.Minute, ExplicitMaxTTL: time.Hour,
		NumUses: 3, BoundCIDRs: []string{"127.0.0.0/8"}, Renewable: true, TokenType: "service",
	}
	if !reflect.DeepEqual(r.Auth, want) {
		t.Fatalf("auth = %+v\nwant   %+v", r.Auth, want)
	}
	if r.Data != nil {
		t.Fatalf("login returned data: %v", r.Data)
	}
	// The alias's metadata is a copy: the token's can be changed without
	// touching it.
	r.Auth.Metadata["x"] = "y"
	if _, ok := r.Auth.Alias.Metadata["x"]; ok {
		t.Fatal("alias metadata shares the token's map")
	}
}

func TestLoginDefaultRoleAndPointerUserClaim(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"jwks_url": h.iss.JWKSURL(), "jwks_ca_pem": h.iss.CAPEM, "default_role": "k8s"})
	writeRole(t, h, "k8s", map[string]any{"bound_audiences": "coffer",
		"user_claim": "/kubernetes.io/serviceaccount/uid", "user_claim_json_pointer": true})
	r, err := h.login("", h.iss.Sign(t, k8sClaims(h.iss, "ns", "sa", "coffer")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Auth.Alias.Name != "uid-sa" || r.Auth.Metadata["role"] != "k8s" {
		t.Fatalf("alias %q meta %v", r.Auth.Alias.Name, r.Auth.Metadata)
	}
}

// TestLoginRefusesBadTokens is issue 7's list for the jwt method: each bad
// token gets a 400 (403 for the address) that says which check failed,
// without quoting the token.
func TestLoginRefusesBadTokens(t *testing.T) {
	t.Parallel()
	h := configured(t)
	iss := h.iss
	writeRole(t, h, "app", map[string]any{"bound_audiences": "coffer", "bound_subject": "system:serviceaccount:team-a:api",
		"bound_claims": map[string]any{"/kubernetes.io/namespace": "team-a"}, "groups_claim": "groups"})
	writeRole(t, h, "noaud", map[string]any{"bound_subject": "system:serviceaccount:team-a:api"})
	writeRole(t, h, "lan", map[string]any{"bound_audiences": "coffer", "token_bound_cidrs": "10.0.0.0/8"})
	writeRole(t, h, "numuser", map[string]any{"bound_audiences": "coffer", "user_claim": "n"})
	h.b.limit = loginlimit.New(loginlimit.Config{Burst: 1000}) // every case fails from one address
	k := iss.DefaultKey()
	good := func() map[string]any { return k8sClaims(iss, "team-a", "api", "coffer") }
	with := func(key string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, key)
		} else {
			c[key] = v
		}
		return c
	}
	now := time.Now().Unix()
	unknown := jwttest.GenerateKey(t, jose.RS256)
	unknown.ID = "kid-nobody-published"
	ec := jwttest.GenerateKey(t, jose.ES256)
	cases := map[string]struct {
		role, token string
		kind        error
		msg         string
	}{
		"expired":                {token: iss.Sign(t, with("exp", now-3600)), msg: "error validating token: token is expired (exp claim)"},
		"not yet valid":          {token: iss.Sign(t, with("nbf", now+3600)), msg: "token is not yet valid (nbf claim)"},
		"wrong audience":         {token: iss.Sign(t, with("aud", "vault")), msg: "invalid audience (aud) claim"},
		"wrong issuer":           {token: iss.Sign(t, with("iss", "https://other.example")), msg: "invalid issuer (iss) claim"},
		"unknown key id":         {token: jwttest.SignWith(t, unknown, good()), msg: "no known key matches the token's key ID"},
		"alg none":               {token: jwttest.NoneToken(good()), msg: `signed with an algorithm that is not allowed: "none"`},
		"HS256 with RSA key":     {token: jwttest.HMACWithPublicKey(k, good()), msg: `not allowed: "HS256"`},
		"alg not supported":      {token: jwttest.SignWith(t, ec, good()), msg: `not allowed: "ES256"`},
		"signature altered":      {token: jwttest.AlterSignature(iss.Sign(t, good())), msg: "token signature does not verify"},
		"claims altered":         {token: jwttest.AlterClaims(iss.Sign(t, good()), k8sClaims(iss, "team-a", "admin", "coffer")), msg: "token signature does not verify"},
		"subject not bound":      {token: iss.Sign(t, with("sub", "system:serviceaccount:team-a:other")), msg: "invalid subject (sub) claim"},
		"namespace not bound":    {token: iss.Sign(t, k8sClaims(iss, "team-b", "api", "coffer")), msg: "invalid subject"},
		"bound claim mismatch":   {token: iss.Sign(t, with("kubernetes.io", map[string]any{"namespace": "team-b"})), msg: `error validating claims: claim "/kubernetes.io/namespace" does not match any associated bound claim values`},
		"bound claim missing":    {token: iss.Sign(t, with("kubernetes.io", nil)), msg: `claim "/kubernetes.io/namespace" is missing`},
		"bound claim wrong type": {token: iss.Sign(t, with("kubernetes.io", map[string]any{"namespace": map[string]any{"x": 1}})), msg: "is not a string, number, boolean or list"},
		"exp wrong type":         {token: iss.Sign(t, with("exp", "tomorrow")), msg: `claim "exp" must be a number`},
		"aud wrong type":         {token: iss.Sign(t, with("aud", 12)), msg: `claim "aud" must be a string or a list of strings`},
		"user claim wrong type":  {role: "numuser", token: iss.Sign(t, with("n", 5)), msg: `claim "n" could not be converted to string`},
		"user claim missing":     {role: "numuser", token: iss.Sign(t, good()), msg: `claim "n" not found in token`},
		"groups wrong type":      {token: iss.Sign(t, with("groups", []any{"a", 1})), msg: `groups_claim: claim "groups" must be a string or a list of strings`},
		"groups missing":         {token: iss.Sign(t, with("groups", nil)), msg: `claim "groups" is missing`},
		"oversized":              {token: iss.Sign(t, with("pad", strings.Repeat("p", 70_000))), msg: "token is larger than the 64 KiB limit"},
		"not a JWT":              {token: "hello", msg: "token is not a well-formed signed JWT"},
		"audience unbound":       {role: "noaud", token: iss.Sign(t, good()), msg: "audience claim found in JWT but no audiences bound to the role"},
		"unknown role":           {role: "nope", token: iss.Sign(t, good()), msg: `role "nope" could not be found`},
		"missing jwt":            {token: "", msg: "missing token"},
		"outside bound cidrs":    {role: "lan", token: iss.Sign(t, good()), kind: logical.ErrPermissionDenied, msg: "token_bound_cidrs"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			role := tc.role
			if role == "" {
				role = "app"
			}
			kind := tc.kind
			if kind == nil {
				kind = logical.ErrInvalidRequest
			}
			_, err := h.login(role, tc.token)
			wantUserError(t, err, kind, tc.msg, tc.token)
		})
	}
	if _, err := h.login("app", iss.Sign(t, good())); err != nil {
		t.Fatalf("the good token: %v", err)
	}
}

func TestLoginMissingRole(t *testing.T) {
	t.Parallel()
	h := configured(t)
	_, err := h.login("", "x")
	wantUserError(t, err, logical.ErrInvalidRequest, "missing role", "")
}

func TestBoundClaims(t *testing.T) {
	t.Parallel()
	claims := jwtverify.Claims{}
	for k, v := range map[string]any{
		"email": "a@example.com", "groups": []any{"dev", "ops"}, "n": mustNumber("42"), "f": mustNumber("1.5"),
		"admin": true, "nested": map[string]any{"env": "prod"},
	} {
		claims[k] = v
	}
	cases := map[string]struct {
		typ   string
		bound map[string]any
		ok    bool
	}{
		"string exact":            {typ: "string", bound: map[string]any{"email": "a@example.com"}, ok: true},
		"string is not glob":      {typ: "string", bound: map[string]any{"email": "*@example.com"}},
		"glob suffix":             {typ: "glob", bound: map[string]any{"email": "*@example.com"}, ok: true},
		"glob middle":             {typ: "glob", bound: map[string]any{"email": "a*example*"}, ok: true},
		"glob no match":           {typ: "glob", bound: map[string]any{"email": "*@evil.com"}},
		"list claim, any value":   {typ: "string", bound: map[string]any{"groups": "ops"}, ok: true},
		"list bound, any matches": {typ: "string", bound: map[string]any{"groups": []any{"x", "dev"}}, ok: true},
		"list vs list, none":      {typ: "string", bound: map[string]any{"groups": []any{"x", "y"}}},
		"number equal":            {typ: "string", bound: map[string]any{"n": mustNumber("42.0")}, ok: true},
		"number from storage":     {typ: "string", bound: map[string]any{"n": float64(42)}, ok: true},
		"number not string":       {typ: "string", bound: map[string]any{"n": "42"}},
		"fraction":                {typ: "string", bound: map[string]any{"f": mustNumber("1.5")}, ok: true},
		"bool":                    {typ: "string", bound: map[string]any{"admin": true}, ok: true},
		"bool not string":         {typ: "string", bound: map[string]any{"admin": "true"}},
		"pointer":                 {typ: "glob", bound: map[string]any{"/nested/env": "pr*"}, ok: true},
		"all must match":          {typ: "string", bound: map[string]any{"email": "a@example.com", "admin": false}},
		"missing":                 {typ: "string", bound: map[string]any{"nope": "x"}},
		"object claim":            {typ: "string", bound: map[string]any{"nested": "x"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := matchBoundClaims(claims, tc.typ, tc.bound)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		pattern, s string
		want       bool
	}{
		"exact":              {"abc", "abc", true},
		"exact differs":      {"abc", "abd", false},
		"star alone":         {"*", "", true},
		"prefix":             {"team-*", "team-a", true},
		"prefix empty rest":  {"team-*", "team-", true},
		"prefix fails":       {"team-*", "tea", false},
		"suffix":             {"*-prod", "api-prod", true},
		"both ends":          {"a*a", "a", false},
		"both ends ok":       {"a*a", "aba", true},
		"middle":             {"a*b*c", "axxbyyc", true},
		"middle order":       {"a*b*c", "acb", false},
		"repeated parts":     {"*ab*ab", "abab", true},
		"double star":        {"a**b", "ab", true},
		"suffix overlap":     {"*aa", "a", false},
		"question not magic": {"a?c", "abc", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := globMatch(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
			}
		})
	}
}

func TestRenewAuth(t *testing.T) {
	t.Parallel()
	h := configured(t)
	writeRole(t, h, "app", map[string]any{"bound_audiences": "coffer", "token_policies": "a,b"})
	r, err := h.login("app", h.iss.Sign(t, h.iss.Claims("x", "coffer")))
	if err != nil {
		t.Fatal(err)
	}
	renew := func() error {
		return h.fw.RenewAuth(context.Background(), &logical.Request{Path: "login", Storage: h.storage,
			Auth: &logical.Auth{Policies: append([]string{"default"}, r.Auth.Policies...), Metadata: r.Auth.Metadata}})
	}
	if err := renew(); err != nil {
		t.Fatalf("renew: %v", err)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"token_policies": "a"})
	if err := renew(); err == nil || !strings.Contains(err.Error(), "policies have changed") {
		t.Fatalf("renew after a policy change: %v", err)
	}
	h.mustDo(t, logical.DeleteOperation, "role/app", nil)
	if err := renew(); err == nil || !strings.Contains(err.Error(), `role "app" no longer exists`) {
		t.Fatalf("renew after delete: %v", err)
	}
}

// TestLoginRateLimited: failures count per (role, address); past the burst
// even a good token from that pair gets 429 with Retry-After, while other
// addresses and roles log in as before; an unreachable key server does not
// count against the caller.
func TestLoginRateLimited(t *testing.T) {
	t.Parallel()
	h := configured(t)
	// The limiter forgets a failure a second: on a clock that stands still,
	// a loaded machine cannot let it forget one between two attempts.
	stopped := time.Now()
	h.b.limit = loginlimit.New(loginlimit.Config{Now: func() time.Time { return stopped }})
	writeRole(t, h, "app", map[string]any{"bound_audiences": "coffer"})
	writeRole(t, h, "other", map[string]any{"bound_audiences": "coffer"})
	good := h.iss.Sign(t, h.iss.Claims("x", "coffer"))
	bad := jwttest.AlterSignature(good)
	const attacker = "192.0.2.7:5555"
	login := func(role, tok, addr string) error {
		_, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role": role, "jwt": tok}, addr)
		return err
	}
	for i := range 10 {
		if err := login("app", bad, attacker); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	err := login("app", good, "192.0.2.7:6000")
	var rl *logical.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || !strings.Contains(err.Error(), `too many failed logins for role "app"`) {
		t.Fatalf("11th attempt: %v", err)
	}
	if err := login("app", good, "192.0.2.8:1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if err := login("other", good, attacker); err != nil {
		t.Fatalf("another role: %v", err)
	}

	// Made-up role names count together: spraying them is limited too,
	// and the real role from that address is not.
	const sprayer = "192.0.2.9:1"
	for i := range 10 {
		err := login(fmt.Sprintf("guess-%d", i), good, sprayer)
		if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "could not be found") {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := login("guess-99", good, sprayer); !errors.As(err, &rl) || !strings.Contains(err.Error(), "to roles that do not exist") {
		t.Fatalf("11th made-up role: %v", err)
	}
	if err := login("app", good, sprayer); err != nil {
		t.Fatalf("the real role from the sprayer's address: %v", err)
	}

	// The issuer is down for an unknown key: not the caller's fault.
	h2 := newHarness(t)
	clk := &clock{t: time.Now()}
	h2.b.verifierOptions = func(c *jwtverify.Config) { c.Now = clk.Now }
	h2.mustDo(t, logical.UpdateOperation, "config", map[string]any{"jwks_url": h2.iss.JWKSURL(), "jwks_ca_pem": h2.iss.CAPEM})
	writeRole(t, h2, "app", map[string]any{"bound_audiences": "coffer"})
	h2.iss.SetJWKSFailing(true)
	clk.Advance(time.Minute) // past the refresh interval of the config write's fetch
	fresh := jwttest.GenerateKey(t, jose.RS256)
	fresh.ID = "new"
	for range 15 {
		_, err := h2.doFrom(logical.UpdateOperation, "login", map[string]any{"role": "app",
			"jwt": jwttest.SignWith(t, fresh, h2.iss.Claims("x", "coffer"))}, attacker)
		if errors.As(err, &rl) {
			t.Fatal("key fetch failures were counted against the caller")
		}
	}
	if h2.b.limit.Len() != 0 {
		t.Fatalf("%d pairs counted", h2.b.limit.Len())
	}
}

func mustNumber(s string) any {
	return jsonNumber(s)
}

// TestRoleChangesTakeEffectAtOnce: roles are cached for logins, and every
// write or delete is seen by the next login, also while logins run.
func TestRoleChangesTakeEffectAtOnce(t *testing.T) {
	t.Parallel()
	h := configured(t)
	h.b.limit = loginlimit.New(loginlimit.Config{Burst: 1 << 20})
	writeRole(t, h, "app", map[string]any{"bound_audiences": "a"})
	tokA := h.iss.Sign(t, h.iss.Claims("x", "a"))
	tokB := h.iss.Sign(t, h.iss.Claims("x", "b"))
	if _, err := h.login("app", tokA); err != nil {
		t.Fatal(err)
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"bound_audiences": "b"})
	if _, err := h.login("app", tokA); err == nil {
		t.Fatal("the old audience still logs in after the role changed")
	}
	if _, err := h.login("app", tokB); err != nil {
		t.Fatal(err)
	}
	// Logins racing with rewrites never see a role that was replaced: once
	// the last write (audience a) is done, audience a logs in and b does not.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			_, _ = h.login("app", tokA)
			_, _ = h.login("app", tokB)
		}
	}()
	for i := range 50 {
		aud := []string{"a", "b"}[i%2]
		h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"bound_audiences": aud})
	}
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{"bound_audiences": "a"})
	<-done
	if _, err := h.login("app", tokA); err != nil {
		t.Fatalf("after the last write: %v", err)
	}
	if _, err := h.login("app", tokB); err == nil {
		t.Fatal("a replaced role is still cached")
	}
	h.mustDo(t, logical.DeleteOperation, "role/app", nil)
	_, err := h.login("app", tokA)
	wantUserError(t, err, logical.ErrInvalidRequest, `role "app" could not be found`, tokA)
}
