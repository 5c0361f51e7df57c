package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/cache"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// discardWriter is the least a ResponseWriter can be, so that the
// benchmark measures the API's work and not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// benchStack builds what "coffer server" serves on file storage: bbolt
// behind the ciphertext cache, metrics on, the API behind the metrics
// handler, with 1,000 KV v2 keys under secret/bench/. It returns the
// handler and two tokens: the root token and one whose policy reads
// secret/data/bench/*.
func benchStack(b *testing.B) (http.Handler, string, string) {
	b.Helper()
	ctx := context.Background()
	bk, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bk.Close() })
	m := telemetry.New(telemetry.Config{PrometheusRetention: telemetry.DefaultPrometheusRetention})
	c := core.New(core.Config{Physical: cache.New(bk, 0), StorageType: "file", Metrics: m,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	_, root, err := c.DevInit(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Seal(context.Background()) })
	h := m.Handler(httpapi.WithForwardedFor(httpapi.New(c, httpapi.Options{}), httpapi.ForwardedFor{}), false)
	call := func(tok, method, path, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, "/v1/"+path, strings.NewReader(body))
		r.Header.Set("X-Vault-Token", tok)
		h.ServeHTTP(w, r)
		if w.Code >= 300 {
			b.Fatalf("%s %s: status %d", method, path, w.Code)
		}
		return w
	}
	call(root, http.MethodPut, "sys/policies/acl/reader", `{"policy":"path \"secret/data/bench/*\" { capabilities = [\"read\"] }"}`)
	for i := range 1000 {
		call(root, http.MethodPut, "secret/data/bench/key-"+strconv.Itoa(i), `{"data":{"value":"`+strings.Repeat("v", 64)+`","n":"`+strconv.Itoa(i)+`"}}`)
	}
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	w := call(root, http.MethodPost, "auth/token/create", `{"policies":["reader"]}`)
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.Auth.ClientToken == "" {
		b.Fatalf("token create: %v %s", err, w.Body)
	}
	return h, root, created.Auth.ClientToken
}

// BenchmarkKVReadStack is one KV v2 read of a random key of 1,000 through
// the whole server but the socket: the metrics handler, the HTTP API,
// quota, token, ACL, router, KV engine, barrier, cache and bbolt, as
// "coffer server" on file storage serves it, with the root token and with
// a token holding a read policy. It measures what coffer bench's kv-read
// spends above the bare handler, with allocations, without the noise of
// a load generator on the same cores.
func BenchmarkKVReadStack(b *testing.B) {
	h, root, reader := benchStack(b)
	for name, tok := range map[string]string{"root": root, "policy": reader} {
		b.Run(name, func(b *testing.B) {
			reqs := make([]*http.Request, 1000)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r := reqs[i%len(reqs)]
				if r == nil {
					r = httptest.NewRequest(http.MethodGet, "/v1/secret/data/bench/key-"+strconv.Itoa(i%len(reqs)), nil)
				}
				// The API takes the token header off the request, as the
				// server's would be read fresh from the wire each time.
				r.Header = http.Header{"X-Vault-Token": {tok}}
				reqs[i%len(reqs)] = r
				clear(w.h)
				w.status, w.n = 0, 0
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK || w.n < 300 {
					b.Fatalf("read: status %d, %d bytes", w.status, w.n)
				}
			}
		})
	}
}
