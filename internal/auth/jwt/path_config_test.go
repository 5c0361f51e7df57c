package jwt

import (
	"reflect"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
)

func TestConfigWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	iss := h.iss
	pem := iss.DefaultKey().PublicPEM()
	other := jwttest.New(t) // a server whose CA we will not trust
	cases := map[string]struct {
		body    map[string]any
		wantErr string
	}{
		"discovery":             {body: map[string]any{"oidc_discovery_url": iss.URL, "oidc_discovery_ca_pem": iss.CAPEM}},
		"jwks":                  {body: map[string]any{"jwks_url": iss.JWKSURL(), "jwks_ca_pem": iss.CAPEM, "jwt_supported_algs": "RS256,ES256"}},
		"pubkeys":               {body: map[string]any{"jwt_validation_pubkeys": []any{pem}, "bound_issuer": "x", "default_role": "Dev"}},
		"no source":             {body: map[string]any{"bound_issuer": "x"}, wantErr: "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set"},
		"two sources":           {body: map[string]any{"jwks_url": iss.JWKSURL(), "jwt_validation_pubkeys": pem}, wantErr: "exactly one of"},
		"bad pubkey":            {body: map[string]any{"jwt_validation_pubkeys": "not a key"}, wantErr: "error parsing public key 1"},
		"HS256 refused":         {body: map[string]any{"jwt_validation_pubkeys": pem, "jwt_supported_algs": "HS256"}, wantErr: `unsupported signing algorithm "HS256"`},
		"none refused":          {body: map[string]any{"jwt_validation_pubkeys": pem, "jwt_supported_algs": []any{"RS256", "none"}}, wantErr: `"none"`},
		"untrusted discovery":   {body: map[string]any{"oidc_discovery_url": other.URL}, wantErr: "error checking oidc discovery URL"},
		"jwks 404":              {body: map[string]any{"jwks_url": iss.URL + "/nothing", "jwks_ca_pem": iss.CAPEM}, wantErr: "error checking jwks URL"},
		"bad CA":                {body: map[string]any{"jwks_url": iss.JWKSURL(), "jwks_ca_pem": "junk"}, wantErr: "could not parse CA PEM"},
		"CA without its source": {body: map[string]any{"jwt_validation_pubkeys": pem, "jwks_ca_pem": iss.CAPEM}, wantErr: "'jwks_ca_pem' is set but 'jwks_url' is not"},
		"relative URL":          {body: map[string]any{"jwks_url": "/keys"}, wantErr: "absolute http or https URL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			_, err := h.do(logical.UpdateOperation, "config", tc.body)
			if tc.wantErr != "" {
				wantUserError(t, err, logical.ErrInvalidRequest, tc.wantErr, "")
				if r, _ := h.do(logical.ReadOperation, "config", nil); r != nil {
					t.Fatalf("a refused config was stored: %v", r.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := h.mustDo(t, logical.ReadOperation, "config", nil)
			for k, v := range tc.body {
				got := r.Data[k]
				switch v := v.(type) {
				case string:
					if k == "jwt_supported_algs" || k == "jwt_validation_pubkeys" {
						if !reflect.DeepEqual(got, strings.Split(v, ",")) {
							t.Fatalf("%s = %v", k, got)
						}
						continue
					}
					if k == "default_role" {
						v = strings.ToLower(v)
					}
					if got != v {
						t.Fatalf("%s = %v, want %v", k, got, v)
					}
				}
			}
		})
	}
}

// TestConfigReplacesWhole: a config write replaces every field, as in Vault,
// and the verifier changes with it at once.
func TestConfigReplacesWhole(t *testing.T) {
	t.Parallel()
	h := configured(t)
	writeRole(t, h, "r", map[string]any{"bound_audiences": "coffer"})
	tok := h.iss.Sign(t, h.iss.Claims("a", "coffer"))
	if _, err := h.login("r", tok); err != nil {
		t.Fatal(err)
	}
	k2 := jwttest.GenerateKey(t, jose.RS256)
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"jwt_validation_pubkeys": k2.PublicPEM()})
	r := h.mustDo(t, logical.ReadOperation, "config", nil)
	if r.Data["bound_issuer"] != "" || r.Data["oidc_discovery_url"] != "" {
		t.Fatalf("old fields survived: %v", r.Data)
	}
	_, err := h.login("r", tok)
	wantUserError(t, err, logical.ErrInvalidRequest, "signature does not verify", tok)
	if _, err := h.login("r", jwttest.SignWith(t, k2, h.iss.Claims("a", "coffer"))); err != nil {
		t.Fatal(err)
	}
}

// TestConfigSurvivesRestart: a new backend on the same storage (a restart
// or a remount) loads the config and logs in without a config write.
func TestConfigSurvivesRestart(t *testing.T) {
	t.Parallel()
	h := configured(t)
	writeRole(t, h, "r", map[string]any{"bound_audiences": "coffer"})
	h2 := &harness{storage: h.storage, iss: h.iss}
	h2.b = newBackend(&logical.BackendConfig{Storage: h.storage})
	h2.fw = h2.b.framework()
	if _, err := h2.login("r", h.iss.Sign(t, h.iss.Claims("a", "coffer"))); err != nil {
		t.Fatal(err)
	}
}

func TestLoginWithoutConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := h.login("r", "x.y.z")
	wantUserError(t, err, logical.ErrInvalidRequest, "could not load configuration", "")
}
