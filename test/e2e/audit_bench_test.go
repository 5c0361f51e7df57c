package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// BenchmarkAuditKV measures KV v2 reads and durable writes through HTTP
// with no audit device and with one chained file device, one after the
// other in the same run, so that their ratio is taken under the same load
// (docs/BENCHMARKS.md). With -count=N the four cases alternate N times.
func BenchmarkAuditKV(b *testing.B) {
	read := func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }
	write := func(i int64) string { return fmt.Sprintf("secret/data/bench/w-%d", i%1000) }
	body := []byte(`{"data":{"value":"0123456789abcdef0123456789abcdef"}}`)
	for _, op := range []string{"read", "write"} {
		for _, dev := range []string{"none", "file"} {
			b.Run(op+"/"+dev, func(b *testing.B) {
				s := benchServer(b)
				if dev == "file" {
					err := s.client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{
						Type: "file", Options: map[string]string{"file_path": filepath.Join(b.TempDir(), "audit.log")},
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				if op == "read" {
					benchHTTPOn(b, s, http.MethodGet, read, nil)
				} else {
					benchHTTPOn(b, s, http.MethodPut, write, body)
				}
			})
		}
	}
}
