package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/bench"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// benchServer starts a server on bolt storage in a temporary directory with
// 1,000 KV v2 keys, for the whole-stack benchmarks below.
func benchServer(b testing.TB) *server {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return benchServerOn(b, p)
}

// benchServerOn starts a server on p with 1,000 KV v2 keys.
func benchServerOn(b testing.TB, p physical.Backend) *server {
	s := startSealed(b, p)
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.Sys().Unseal(init.Keys[0]); err != nil {
		b.Fatal(err)
	}
	s.root = init.RootToken
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.client.KVv2("secret").Put(context.Background(), fmt.Sprintf("bench/key-%d", i), map[string]any{"value": "0123456789abcdef0123456789abcdef"}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchHTTP(b *testing.B, method string, path func(i int64) string, body []byte) {
	benchHTTPOn(b, benchServer(b), method, path, body)
}

// benchHTTPOn runs the request mix of benchHTTP against s.
func benchHTTPOn(b *testing.B, s *server, method string, path func(i int64) string, body []byte) {
	hc := bench.NewClient(16)
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, s.url+"/v1/"+path(n.Add(1)), bytes.NewReader(body))
			req.Header.Set("X-Vault-Token", s.root)
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

// BenchmarkKVv2ReadHTTP is a KV v2 read through HTTP, token check, ACL,
// router, engine, barrier and bbolt, with the client in the same process.
func BenchmarkKVv2ReadHTTP(b *testing.B) {
	benchHTTP(b, http.MethodGet, func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }, nil)
}

// BenchmarkKVv2WriteHTTP is a durable KV v2 write (fsynced, group-committed).
func BenchmarkKVv2WriteHTTP(b *testing.B) {
	benchHTTP(b, http.MethodPut, func(i int64) string { return fmt.Sprintf("secret/data/bench/w-%d", i%1000) },
		[]byte(`{"data":{"value":"0123456789abcdef0123456789abcdef"}}`))
}
