package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

// BenchmarkJWTLoginHTTP is a jwt login through the whole stack (16 clients,
// bolt storage), the token checked offline (RS256 against a configured
// public key, a glob bound claim and a claim mapping), beside the same
// login with the trust method that checks nothing: the difference is what
// the jwt method costs. Run with -bench 'JWTLoginHTTP' to get both token
// types in one run.
func BenchmarkJWTLoginHTTP(b *testing.B) {
	for _, typ := range []string{"batch", "service"} {
		for _, method := range []string{"trust", "jwt"} {
			b.Run(method+"/"+typ, func(b *testing.B) {
				s := tokenBenchServer(b)
				body := fmt.Appendf(nil, `{"policies":"reader","token_type":%q,"ttl":"1h"}`, typ)
				if method == "jwt" {
					body = jwtBenchLogin(b, s, typ)
				}
				runHTTP(b, http.MethodPost, s.url+"/v1/auth/"+method+"/login", "", body)
			})
		}
	}
}

// jwtBenchLogin mounts jwt on s with a fresh RSA key and a role issuing
// tokens of typ, and returns a login body.
func jwtBenchLogin(b *testing.B, s *server, typ string) []byte {
	b.Helper()
	k := jwttest.GenerateKey(b, jose.RS256)
	if _, err := s.client.Logical().Write("sys/auth/jwt", map[string]any{"type": "jwt"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": k.PublicPEM(), "bound_issuer": "https://bench.example"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/jwt/role/bench", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer", "token_type": typ, "token_ttl": "1h", "token_policies": "reader",
		"bound_claims_type": "glob", "bound_claims": map[string]any{"/kubernetes.io/namespace": "bench-*"},
		"claim_mappings": map[string]any{"/kubernetes.io/namespace": "namespace"},
	}); err != nil {
		b.Fatal(err)
	}
	c := map[string]any{"iss": "https://bench.example", "sub": "system:serviceaccount:bench-a:app", "aud": "coffer",
		"kubernetes.io": map[string]any{"namespace": "bench-a"}}
	now := time.Now().Unix()
	c["iat"], c["nbf"], c["exp"] = now, now, now+3600
	body, _ := json.Marshal(map[string]string{"role": "bench", "jwt": jwttest.SignWith(b, k, c)})
	return body
}
