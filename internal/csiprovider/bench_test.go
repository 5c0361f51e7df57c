package csiprovider_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

const benchKV = `
- {objectName: api-key, secretPath: secret/data/app/api, secretKey: key}
- {objectName: config.json, secretPath: secret/data/app/config}
`

// BenchmarkMount measures Mount through the driver's gRPC client on a unix
// socket against a real Coffer on loopback, and reports p50 and p99 in
// milliseconds. Three objects: two KV and either a third KV object
// ("kv-only") or a dynamic PostgreSQL credential ("kv+db"). "new-pod"
// is every pod's first mount (login, reads, a new database user);
// "rotation" is the driver's poll of a pod that holds its files (cached
// token, KV reads, the credential reused).
func BenchmarkMount(b *testing.B) {
	c := startCoffer(b, false)
	c.putKV(b, "app/api", map[string]any{"key": "k-1"})
	c.putKV(b, "app/config", map[string]any{"host": "db.internal", "port": 5432, "pool": 10})
	c.putKV(b, "app/third", map[string]any{"v": "3"})
	var db *dbtest.Server
	cl := csitest.Serve(b, csiprovider.New(csiprovider.Config{}))
	tok := map[string]string{"coffer": c.saToken(b, "system:serviceaccount:team-a:app", "coffer")}
	for _, kind := range []string{"kv-only", "kv+db"} {
		objects := benchKV + "- {objectName: third, secretPath: secret/data/app/third, secretKey: v}\n"
		if kind == "kv+db" {
			if db == nil {
				db = dbtest.Postgres(b)
				enableDatabase(b, c, db, "1h")
				b.Cleanup(func() { db.CleanupUsers(b, "v-k8s-jwt--app-") })
			}
			objects = benchKV + "- {objectName: db-url, secretPath: database/creds/app, secretKey: connection_url}\n"
		}
		base := attrs(b, kvParams(c, objects), tok)
		for _, mode := range []string{"new-pod", "rotation"} {
			b.Run(kind+"/"+mode, func(b *testing.B) {
				first, err := cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: base, Permission: "420"})
				if err != nil {
					b.Fatal(err)
				}
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					req := &v1alpha1.MountRequest{Attributes: base, Permission: "420", CurrentObjectVersion: current(first)}
					if mode == "new-pod" {
						req = &v1alpha1.MountRequest{Attributes: withPod(base, fmt.Sprintf("bench-%s-%d", kind, i)), Permission: "420"}
					}
					t0 := time.Now()
					if _, err := cl.Mount(context.Background(), req); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
