package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/cofferhq/coffer/internal/bench"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// tokenBenchServer is a server on bolt storage (every write fsynced,
// group-committed) with the trust auth method, a "reader" policy and one
// KV v2 secret it may read.
func tokenBenchServer(b *testing.B) *server {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	s := startWithTrust(b, p)
	if err := s.client.Sys().PutPolicy("reader", `path "secret/data/bench/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(context.Background(), "bench/key", map[string]any{"value": "0123456789abcdef"}); err != nil {
		b.Fatal(err)
	}
	return s
}

// runHTTP sends the same request from 16 goroutines until b.N are done,
// failing on any status but 200.
func runHTTP(b *testing.B, method, url, token string, body []byte) {
	hc := bench.NewClient(16)
	b.SetParallelism(8) // 16 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, url, bytes.NewReader(body))
			if token != "" {
				req.Header.Set("X-Vault-Token", token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkLoginHTTP is a login through the whole stack with an auth method
// that checks nothing (so the token is the cost): a service token is a
// durable storage write, a batch token none.
func BenchmarkLoginHTTP(b *testing.B) {
	for _, typ := range []string{"service", "batch"} {
		b.Run(typ, func(b *testing.B) {
			s := tokenBenchServer(b)
			body := fmt.Appendf(nil, `{"policies":"reader","token_type":%q,"ttl":"1h"}`, typ)
			runHTTP(b, http.MethodPost, s.url+"/v1/auth/trust/login", "", body)
		})
	}
}

// BenchmarkTokenReadHTTP is a KV v2 read authenticated by a login token of
// each type: what a request pays to check the token.
func BenchmarkTokenReadHTTP(b *testing.B) {
	for _, typ := range []string{"service", "batch"} {
		b.Run(typ, func(b *testing.B) {
			s := tokenBenchServer(b)
			login, err := s.as(b, "").Logical().Write("auth/trust/login", map[string]any{"policies": "reader", "token_type": typ, "ttl": "1h"})
			if err != nil {
				b.Fatal(err)
			}
			runHTTP(b, http.MethodGet, s.url+"/v1/secret/data/bench/key", login.Auth.ClientToken, nil)
		})
	}
}
