package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/bench"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// dbBenchClients is the number of concurrent clients.
const dbBenchClients = 8

// pgCreation is what the benchmarks create per user, through Coffer and
// bare alike.
var pgCreation = []string{
	`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
	`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`,
}

// runWorkers runs op n times over dbBenchClients goroutines and reports
// ops/s under unit and the p50 and p99 latency in milliseconds.
func runWorkers(b *testing.B, n int, unit string, op func(i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, dbBenchClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range dbBenchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	ms := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(float64(len(all))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit)
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// dbBenchServer is a server on bolt storage with the database engine
// configured for srv (pool of dbBenchClients connections) and a role
// "bench" whose users are named bench-<random>.
func dbBenchServer(b *testing.B, srv *dbtest.Server) *server {
	p, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
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
	if err := s.client.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		b.Fatal(err)
	}
	user, pw := srv.NewRoot(b)
	if _, err := s.client.Logical().Write("database/config/pg", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": srv.TemplateURL(), "username": user, "password": pw,
		"allowed_roles": "bench", "max_open_connections": dbBenchClients,
		"username_template": `{{ printf "bench-%s" (random 20) }}`,
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.Logical().Write("database/roles/bench", map[string]any{
		"db_name": "pg", "creation_statements": pgCreation, "default_ttl": "1h",
	}); err != nil {
		b.Fatal(err)
	}
	srv.CleanupUsers(b, "bench-")
	return s
}

// BenchmarkDatabaseCredsHTTP issues dynamic PostgreSQL credentials through
// a whole server (HTTP, token, ACL, engine, bbolt) with 8 concurrent
// clients: creds/s, p50 and p99.
func BenchmarkDatabaseCredsHTTP(b *testing.B) {
	srv := dbtest.Postgres(b)
	s := dbBenchServer(b, srv)
	hc := bench.NewClient(dbBenchClients)
	runWorkers(b, b.N, "creds/s", func(int) error {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/database/creds/bench", nil)
		req.Header.Set("X-Vault-Token", s.root)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// BenchmarkDatabaseRevokeHTTP revokes, with 8 concurrent clients through
// sys/leases/revoke (synchronous: the user is dropped before the answer),
// credentials issued before the timer starts: revocations/s, p50 and p99.
func BenchmarkDatabaseRevokeHTTP(b *testing.B) {
	srv := dbtest.Postgres(b)
	s := dbBenchServer(b, srv)
	leases := make([]string, b.N)
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range dbBenchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
				sec, err := s.client.Logical().Read("database/creds/bench")
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				leases[i] = sec.LeaseID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	hc := bench.NewClient(dbBenchClients)
	runWorkers(b, b.N, "revocations/s", func(i int) error {
		req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/sys/leases/revoke", strings.NewReader(`{"lease_id":"`+leases[i]+`"}`))
		req.Header.Set("X-Vault-Token", s.root)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// BenchmarkBareCreateRole is the bound: the same creation statements run
// straight on PostgreSQL through one pool of 8 connections, 8 clients,
// each in a transaction as the engine runs them.
func BenchmarkBareCreateRole(b *testing.B) {
	srv := dbtest.Postgres(b)
	db := barePool(b, srv)
	prefix := fmt.Sprintf("bare-%d-", time.Now().UnixNano())
	srv.CleanupUsers(b, prefix)
	exp := time.Now().Add(time.Hour).Format("2006-01-02 15:04:05-0700")
	runWorkers(b, b.N, "roles/s", func(i int) error {
		name := fmt.Sprintf("%s%d", prefix, i)
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.Exec(fmt.Sprintf(`CREATE ROLE "%s" WITH LOGIN PASSWORD 'Pw-0123456789abcdef' VALID UNTIL '%s'`, name, exp)); err != nil {
			return err
		}
		if _, err := tx.Exec(fmt.Sprintf(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "%s"`, name)); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// BenchmarkBareDropRole drops users made for it (untimed) straight on
// PostgreSQL, 8 clients: the bound of revocations.
func BenchmarkBareDropRole(b *testing.B) {
	srv := dbtest.Postgres(b)
	db := barePool(b, srv)
	prefix := fmt.Sprintf("baredrop-%d-", time.Now().UnixNano())
	srv.CleanupUsers(b, prefix)
	for i := range b.N {
		srv.Exec(b, fmt.Sprintf(`CREATE ROLE "%s%d" LOGIN`, prefix, i))
	}
	runWorkers(b, b.N, "drops/s", func(i int) error {
		_, err := db.Exec(fmt.Sprintf(`DROP ROLE "%s%d"`, prefix, i))
		return err
	})
}

func barePool(b *testing.B, srv *dbtest.Server) *sql.DB {
	user, pw := srv.NewRoot(b)
	db, err := dbtest.Open("postgres", srv.URL(user, pw))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(dbBenchClients)
	db.SetMaxIdleConns(dbBenchClients)
	if err := db.PingContext(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db
}
