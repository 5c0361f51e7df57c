package jwtverify

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

// BenchmarkVerify is one whole check of a cached-key token (parse, key
// lookup, signature, claims), in parallel on every core.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			iss := jwttest.New(b)
			k := iss.AddKey(b, alg)
			v, err := New(Config{JWKSURL: iss.JWKSURL(), JWKSCAPEM: iss.CAPEM})
			if err != nil {
				b.Fatal(err)
			}
			tok := jwttest.SignWith(b, k, iss.Claims("system:serviceaccount:ns:app", "coffer"))
			want := Expected{Algorithms: []string{string(alg)}, Issuer: iss.URL, Audiences: []string{"coffer"}}
			if _, err := v.Verify(context.Background(), tok, want); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(context.Background(), tok, want); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
