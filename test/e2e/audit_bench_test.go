package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// BenchmarkAuditKV measures KV v2 reads and durable writes through HTTP
// with no audit device and with one chained file device, alternating
// (read/1/none, read/1/file, read/2/none, …) so that their ratio is taken
// under the same load (docs/BENCHMARKS.md). Run it with -count=1.
func BenchmarkAuditKV(b *testing.B) {
	const rounds = 3
	read := func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }
	write := func(i int64) string { return fmt.Sprintf("secret/data/bench/w-%d", i%1000) }
	body := []byte(`{"data":{"value":"0123456789abcdef0123456789abcdef"}}`)
	for _, op := range []string{"read", "write"} {
		for round := 1; round <= rounds; round++ {
			for _, dev := range []string{"none", "file"} {
				b.Run(fmt.Sprintf("%s/%d/%s", op, round, dev), func(b *testing.B) {
					s := benchServer(b)
					if dev == "file" {
						err := s.client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{
							Type: "file", Options: map[string]string{"file_path": filepath.Join(b.TempDir(), "audit.log")},
						})
						if err != nil {
							b.Fatal(err)
						}
					}
					// CPU time of the whole process (server and client) per request:
					// unlike ns/op it hardly moves with the load of other processes.
					before := cpuTime(b)
					if op == "read" {
						benchHTTPOn(b, s, http.MethodGet, read, nil)
					} else {
						benchHTTPOn(b, s, http.MethodPut, write, body)
					}
					b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
