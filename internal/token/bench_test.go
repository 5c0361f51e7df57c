package token

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// BenchmarkCreateFromAuth issues login tokens of each type on in-memory
// storage: the CPU cost of a token, without the durable write a service
// token also needs on real storage (see test/e2e BenchmarkLoginHTTP).
func BenchmarkCreateFromAuth(b *testing.B) {
	for _, typ := range []string{TypeService, TypeBatch} {
		b.Run(typ, func(b *testing.B) {
			h := newHarness(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				auth := &logical.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour, Renewable: true, TokenType: typ,
					Metadata: map[string]string{"username": "alice"}, DisplayName: "alice"}
				if _, err := h.s.CreateFromAuth(ctx, auth, "auth/userpass/login/alice"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUse authenticates a request with a token of each type: a cached
// service entry (an HMAC and a map lookup) against opening a batch token
// (base64, AES-GCM and JSON), neither touching storage.
func BenchmarkUse(b *testing.B) {
	for _, typ := range []string{TypeService, TypeBatch} {
		b.Run(typ, func(b *testing.B) {
			h := newHarness(b)
			ctx := context.Background()
			auth := &logical.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour, TokenType: typ,
				Metadata: map[string]string{"username": "alice"}, DisplayName: "alice"}
			if _, err := h.s.CreateFromAuth(ctx, auth, "auth/userpass/login/alice"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if e, err := h.s.Use(ctx, auth.ClientToken); err != nil || e == nil {
						b.Fatal("use failed")
					}
				}
			})
		})
	}
}
