package jwt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

func decodeBody(s string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// FuzzRoleBodies writes arbitrary JSON bodies (decoded as the HTTP layer
// decodes them) as roles. Every refusal is a 400 user error, and whatever
// is stored reads back and can be logged in against without a panic.
func FuzzRoleBodies(f *testing.F) {
	for _, s := range []string{
		`{"role_type":"jwt","user_claim":"sub","bound_audiences":"a,b"}`,
		`{"role_type":"jwt","user_claim":"/a/0","user_claim_json_pointer":true,"bound_subject":"s"}`,
		`{"role_type":"jwt","user_claim":"sub","bound_claims_type":"glob","bound_claims":{"/x~1y":["a*",1]}}`,
		`{"role_type":"jwt","user_claim":"sub","bound_claims":{"n":[1,2.5,true,"s"]},"claim_mappings":{"a":"role"}}`,
		`{"role_type":"jwt","user_claim":"sub","bound_claims":{"o":{"x":null}},"clock_skew_leeway":"-1","expiration_leeway":1e30}`,
		`{"role_type":"oidc","user_claim":"sub","token_bound_cidrs":["10.0.0.0/8","x"]}`,
		`{"role_type":"jwt","user_claim":"sub","bound_audiences":[1,{}],"groups_claim":"/~"}`,
		`{"user_claim":["a"],"token_period":"100000h","policies":"ROOT"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		data, ok := decodeBody(body)
		if !ok {
			return
		}
		h := configured(t)
		_, err := h.do(logical.CreateOperation, "role/r", data)
		var ue *logical.UserError
		if err != nil {
			if !errors.As(err, &ue) {
				t.Fatalf("internal error for user input: %v", err)
			}
			return
		}
		if _, err := h.do(logical.ReadOperation, "role/r", nil); err != nil {
			t.Fatalf("stored role does not read: %v", err)
		}
		_, err = h.login("r", h.iss.Sign(t, k8sClaims(h.iss, "ns", "sa", "a")))
		if err != nil && !errors.As(err, &ue) {
			t.Fatalf("internal error at login: %v", err)
		}
	})
}

// FuzzLoginClaims signs arbitrary payloads with the configured key and
// logs in against a role that reads claims every way a role can (a pointer
// user claim, glob bound claims, mappings, groups). Nothing may panic, and
// every refusal is a user error that quotes no part of the token.
func FuzzLoginClaims(f *testing.F) {
	for _, s := range []string{
		`{"sub":"s","aud":"coffer","exp":99999999999,"kubernetes.io":{"namespace":"team-a","serviceaccount":{"uid":"u"}},"groups":["g"]}`,
		`{"aud":["coffer"],"iat":1,"kubernetes.io":{"namespace":["team-a",7]},"groups":"g"}`,
		`{"aud":"coffer","exp":"x","kubernetes.io":{"namespace":{"a":[]}},"groups":[null]}`,
		`{"aud":"coffer","nbf":1e308,"kubernetes.io":[],"groups":{}}`,
		`{"aud":"coffer","exp":99999999999,"kubernetes.io":{"namespace":"team-z","serviceaccount":{"uid":12}},"email":true}`,
		`[]`, `null`, `{"aud":"coffer","exp":99999999999,"kubernetes.io":{"namespace":"team-a","serviceaccount":{"uid":""}}}`,
	} {
		f.Add(s)
	}
	k := jwttest.GenerateKey(f, jose.EdDSA)
	h := newHarness(f)
	h.mustDo(f, logical.UpdateOperation, "config", map[string]any{"jwt_validation_pubkeys": k.PublicPEM(), "jwt_supported_algs": "EdDSA"})
	h.mustDo(f, logical.CreateOperation, "role/r", map[string]any{
		"role_type": "jwt", "user_claim": "/kubernetes.io/serviceaccount/uid", "user_claim_json_pointer": true,
		"bound_audiences": "coffer", "bound_claims_type": "glob",
		"bound_claims":   map[string]any{"/kubernetes.io/namespace": "team-*"},
		"claim_mappings": map[string]any{"/kubernetes.io/namespace": "ns", "email": "email"},
		"groups_claim":   "groups",
	})
	h.b.limit = loginlimit.New(loginlimit.Config{Burst: 1 << 30})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		obj, err := signer.Sign([]byte(payload))
		if err != nil {
			return
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			return
		}
		r, err := h.login("r", tok)
		if err == nil {
			if r.Auth == nil || r.Auth.Alias == nil || r.Auth.Alias.Name == "" || r.Auth.Metadata["role"] != "r" {
				t.Fatalf("login without a proper auth: %+v", r)
			}
			ns := r.Auth.Metadata["ns"]
			if !strings.HasPrefix(ns, "team-") {
				c, _ := decodeBody(payload)
				if k8s, _ := c["kubernetes.io"].(map[string]any); k8s == nil || !isList(k8s["namespace"]) {
					t.Fatalf("accepted namespace %q outside the bound glob", ns)
				}
			}
			return
		}
		wantUserError(t, err, logical.ErrInvalidRequest, "", tok)
	})
}

func isList(v any) bool { _, ok := v.([]any); return ok }
