package kubernetes

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

// FuzzLoginClaims signs arbitrary JSON payloads with the cluster's key, so
// the claim parsing (bound and legacy service-account claims, sub, times)
// sees every shape; a login must never panic or fail as the server's
// fault, and must log in only an account the role binds.
func FuzzLoginClaims(f *testing.F) {
	h := offline(f)
	good := h.saClaims("team-a", "app", "coffer")
	seed, _ := json.Marshal(good)
	f.Add(seed)
	f.Add([]byte(`{"kubernetes.io":{"namespace":7}}`))
	f.Add([]byte(`{"sub":"system:serviceaccount:team-a:app","kubernetes.io/serviceaccount/namespace":"team-a"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var claims map[string]any
		if json.Unmarshal(payload, &claims) != nil || claims == nil {
			return
		}
		for k, v := range good {
			if _, ok := claims[k]; !ok && k != "kubernetes.io" {
				claims[k] = v
			}
		}
		h.b.limit = newUnlimited()
		resp, err := h.login("app", h.iss.Sign(t, claims))
		checkLoginResult(t, resp, err)
	})
}

// FuzzLoginToken feeds arbitrary strings as the jwt.
func FuzzLoginToken(f *testing.F) {
	h := offline(f)
	f.Add(h.iss.Sign(f, h.saClaims("team-a", "app", "coffer")))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		h.b.limit = newUnlimited()
		resp, err := h.login("app", token)
		checkLoginResult(t, resp, err)
	})
}

// FuzzSelector parses arbitrary selectors and matches them.
func FuzzSelector(f *testing.F) {
	f.Add(`{"matchLabels":{"team":"a"},"matchExpressions":[{"key":"env","operator":"In","values":["prod"]}]}`)
	f.Add(`{"matchExpressions":[{"key":"a","operator":"Exists"}]}`)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parseSelector(text)
		if err != nil {
			return
		}
		s.matches(map[string]string{"team": "a", "env": "prod"})
		s.matches(nil)
	})
}

// newUnlimited is a failure limiter that never refuses, so failures do not
// throttle the fuzzer.
func newUnlimited() *loginlimit.Limiter { return loginlimit.New(loginlimit.Config{Burst: 1 << 30}) }

func checkLoginResult(t *testing.T, resp *logical.Response, err error) {
	t.Helper()
	if err != nil {
		var ue *logical.UserError
		if !errors.As(err, &ue) {
			t.Fatalf("login failed as a server error: %v", err)
		}
		return
	}
	m := resp.Auth.Metadata
	if m["service_account_namespace"] != "team-a" || m["service_account_name"] != "app" {
		t.Fatalf("logged in an unbound account: %v", m)
	}
}
