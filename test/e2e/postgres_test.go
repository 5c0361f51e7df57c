package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// TestPostgresServerRestart runs a whole server on PostgreSQL storage:
// init, unseal, a KV write, a restart on a new connection pool, unseal
// with the same shares, and the secret read back. The table holds neither
// the secret nor the root token in the clear.
func TestPostgresServerRestart(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	table := pgtest.Table(t, url)
	ctx := context.Background()
	const value = "correct-horse-battery-staple-pg-41c2"
	open := func() *postgres.Backend {
		b, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p := open()
	s := startSealed(t, p)
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range init.Keys[:2] {
		if _, err := s.client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s.client.SetToken(init.RootToken)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "myapp/db", map[string]any{"password": value}); err != nil {
		t.Fatal(err)
	}
	if err := s.core.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows int
	var leaked bool
	err = conn.QueryRow(ctx, `SELECT count(*), coalesce(bool_or(position($1::bytea IN value) > 0 OR position($2::bytea IN value) > 0), false) FROM `+table,
		[]byte(value), []byte(init.RootToken)).Scan(&rows, &leaked)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || leaked {
		t.Fatalf("table %s: %d rows, plaintext present: %v", table, rows, leaked)
	}

	p2 := open()
	t.Cleanup(func() { p2.Close() })
	s2 := startSealed(t, p2)
	for _, k := range init.Keys[1:3] {
		if _, err := s2.client.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	s2.client.SetToken(init.RootToken)
	got, err := s2.client.KVv2("secret").Get(ctx, "myapp/db")
	if err != nil || got.Data["password"] != value {
		t.Fatalf("after restart: %+v %v", got, err)
	}
}

// pgProc is a "coffer server -config" process on PostgreSQL storage.
type pgProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPGProcess starts bin with conf, the connection URL given only in
// COFFER_PG_CONNECTION_URL, and waits for its listener.
func startPGProcess(t *testing.T, bin, conf, dbURL string) *pgProc {
	t.Helper()
	cmd := exec.Command(bin, "server", "-config="+conf)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COFFER_") && !strings.HasPrefix(kv, "VAULT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "COFFER_PG_CONNECTION_URL="+dbURL)
	pr, pw := io.Pipe()
	buf := &lockedBuffer{}
	cmd.Stderr = io.MultiWriter(pw, buf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		pw.Close()
	})
	addr := regexp.MustCompile(`msg=listening address=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := addr.FindStringSubmatch(sc.Text()); m != nil {
				found <- "http://" + m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return &pgProc{cmd: cmd, url: u, stderr: buf}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server printed no address within 30s:\n%s", buf.String())
	}
	return nil
}

// TestPostgresKillNineLosesNoAcknowledgedWrite runs coffer server processes
// on PostgreSQL storage: 8 clients write KV secrets, the server is killed
// with SIGKILL while they write, and a new process on the same table must
// hold every write that was acknowledged. A write returns only after its
// SQL COMMIT (synchronous_commit on: WAL flushed), so nothing acknowledged
// lives only in the killed process. The connection URL, given through the
// environment with a password in it, appears in no log line.
func TestPostgresKillNineLosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	table := pgtest.Table(t, dbURL)
	const pw = "pg-password-that-must-never-be-logged-9d1"
	withPW := strings.Replace(dbURL, "postgres@", "postgres:"+pw+"@", 1)
	if withPW == dbURL {
		t.Skip("the test server's URL has no user@ part to add a password to")
	}
	bin := buildCoffer(t)
	conf := filepath.Join(t.TempDir(), "coffer.hcl")
	hcl := fmt.Sprintf("storage \"postgresql\" {\n  table = %q\n  max_parallel = 8\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\nlog_level = \"info\"\n", table)
	if err := os.WriteFile(conf, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPGProcess(t, bin, conf, withPW)
	c := newClient(t, p.url, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}

	acked := writeUntilKilled(t, c, p)
	if len(acked) < 20 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}
	for _, out := range []string{p.stderr.String()} {
		if strings.Contains(out, pw) {
			t.Fatalf("the database password is in the server's log")
		}
	}

	p2 := startPGProcess(t, bin, conf, withPW)
	c2 := newClient(t, p2.url, init.RootToken)
	if _, err := c2.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for key, val := range acked {
		got, err := c2.KVv2("secret").Get(context.Background(), key)
		if err != nil || got.Data["v"] != val {
			lost++
			t.Errorf("acknowledged %s = %s not found after kill -9: %+v %v", key, val, got, err)
		}
	}
	t.Logf("%d acknowledged writes, %d lost", len(acked), lost)
	if strings.Contains(p2.stderr.String(), pw) {
		t.Fatal("the database password is in the restarted server's log")
	}
}

// writeUntilKilled runs 8 writers against p, kills p with SIGKILL after a
// second of writing, and returns every write the server acknowledged.
func writeUntilKilled(t *testing.T, c *api.Client, p *pgProc) map[string]string {
	t.Helper()
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	c.SetMaxRetries(0)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				key, val := fmt.Sprintf("w%d/k%d", w, i), fmt.Sprintf("v%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := c.KVv2("secret").Put(ctx, key, map[string]any{"v": val})
				cancel()
				if err == nil {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
					continue
				}
				var re *api.ResponseError
				if errors.As(err, &re) && re.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("write %s: %v", key, err)
				}
				return
			}
		}()
	}
	time.Sleep(time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	stop.Store(true)
	wg.Wait()
	return acked
}

// pgBenchServer is benchServer on PostgreSQL storage (a fresh table, no
// read cache, as the bolt benchmarks run without one).
func pgBenchServer(b *testing.B) *server {
	url := pgtest.URL(b)
	p, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: url, Table: pgtest.Table(b, url)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return benchServerOn(b, p)
}

// BenchmarkKVv2ReadHTTPPostgres is BenchmarkKVv2ReadHTTP on PostgreSQL
// storage: every read is a SELECT by primary key.
func BenchmarkKVv2ReadHTTPPostgres(b *testing.B) {
	benchHTTPOn(b, pgBenchServer(b), http.MethodGet, func(i int64) string { return fmt.Sprintf("secret/data/bench/key-%d", i%1000) }, nil)
}

// BenchmarkKVv2WriteHTTPPostgres is BenchmarkKVv2WriteHTTP on PostgreSQL
// storage: every write is a committed SQL transaction (WAL flushed).
func BenchmarkKVv2WriteHTTPPostgres(b *testing.B) {
	benchHTTPOn(b, pgBenchServer(b), http.MethodPut, func(i int64) string { return fmt.Sprintf("secret/data/bench/w-%d", i%1000) },
		[]byte(`{"data":{"value":"0123456789abcdef0123456789abcdef"}}`))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
