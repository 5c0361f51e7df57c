package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// migrateRun is one `coffer operator migrate` process.
type migrateRun struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runMigrate runs `coffer operator migrate -config=conf args...` with the
// PostgreSQL URL only in the environment, as an operator would pass it.
func runMigrate(t *testing.T, bin, dbURL, conf string, args ...string) migrateRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"operator", "migrate", "-config=" + conf}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COFFER_") && !strings.HasPrefix(kv, "VAULT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "COFFER_PG_CONNECTION_URL="+dbURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	r := migrateRun{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(began)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func (r migrateRun) want(t *testing.T, code int, pattern string) {
	t.Helper()
	if r.code != code || !regexp.MustCompile(pattern).MatchString(r.stdout+r.stderr) {
		t.Fatalf("exit %d, want %d and output matching %q:\nstdout: %s\nstderr: %s", r.code, code, pattern, r.stdout, r.stderr)
	}
}

func writeConf(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMigrateFileRaftPostgres is the storage round trip of issue 10: a
// server on file storage is initialised with Shamir shares and given
// secrets; operator migrate is refused while it runs; once it stops the
// data goes file → raft → postgresql (the checksums of both copies agree);
// a server on the raft copy and then one on the PostgreSQL table unseal
// with other original shares and serve the secrets. A destination holding data is refused unless
// -reset, and a PostgreSQL table a running server holds is refused too.
func TestMigrateFileRaftPostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	table := pgtest.Table(t, dbURL)
	bin := buildCoffer(t)
	dir := t.TempDir()
	listener := "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\nlog_level = \"info\"\n"
	fileConf := writeConf(t, dir, "file.hcl", fmt.Sprintf("storage \"file\" { path = %q }\n%s", filepath.Join(dir, "file"), listener))
	raftConf := writeConf(t, dir, "raft.hcl", fmt.Sprintf("storage \"raft\" {\n  path = %q\n  node_id = \"node-1\"\n}\n%s", filepath.Join(dir, "raft"), listener))
	pgConf := writeConf(t, dir, "pg.hcl", fmt.Sprintf("storage \"postgresql\" { table = %q }\n%s", table, listener))
	toRaft := writeConf(t, dir, "to-raft.hcl", fmt.Sprintf(
		"storage_source \"file\" {\n  path = %q\n}\nstorage_destination \"raft\" {\n  path = %q\n  node_id = \"node-1\"\n}\ncluster_addr = \"https://127.0.0.1:8201\"\n",
		filepath.Join(dir, "file"), filepath.Join(dir, "raft")))
	toPG := writeConf(t, dir, "to-pg.hcl", fmt.Sprintf(
		"storage_source \"raft\" {\n  path = %q\n  node_id = \"node-1\"\n}\nstorage_destination \"postgresql\" {\n  table = %q\n}\n",
		filepath.Join(dir, "raft"), table))

	p := startPGProcess(t, bin, fileConf, dbURL)
	c := newClient(t, p.url, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range init.Keys[:2] {
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secrets := map[string]string{}
	for i := range 120 {
		path, value := fmt.Sprintf("app%d/db", i%7), fmt.Sprintf("pw-%d-before-migration", i)
		if i%7 != i {
			path = fmt.Sprintf("app%d/db%d", i%7, i)
		}
		if _, err := c.KVv2("secret").Put(ctx, path, map[string]any{"password": value}); err != nil {
			t.Fatal(err)
		}
		secrets[path] = value
	}

	live := runMigrate(t, bin, dbURL, toRaft)
	live.want(t, 2, `the source storage is in use by a running server`)
	if live.took > 15*time.Second {
		t.Fatalf("the refusal of a live source took %s", live.took)
	}
	stopProcess(t, p)

	first := runMigrate(t, bin, dbURL, toRaft, "-checksum", "-batch-size=50")
	first.want(t, 0, `(?m)^Success! All of the keys have been migrated\.$`)
	keys := regexp.MustCompile(`Verified: the destination holds the same (\d+) keys`).FindStringSubmatch(first.stdout)
	sum1 := regexp.MustCompile(`Checksum \(SHA-256 of every entry, both sides\): ([0-9a-f]{64})`).FindStringSubmatch(first.stdout)
	if keys == nil || sum1 == nil || keys[1] == "0" {
		t.Fatalf("no count or checksum in:\n%s", first.stdout)
	}
	runMigrate(t, bin, dbURL, toRaft).want(t, 2, `the destination \(raft at .*\) already holds data: .*-reset`)

	second := runMigrate(t, bin, dbURL, toPG, "-checksum")
	second.want(t, 0, `Verified: the destination holds the same `+keys[1]+` keys as the source\.`)
	if !strings.Contains(second.stdout, sum1[1]) {
		t.Fatalf("raft → postgresql checksum differs from file → raft's %s:\n%s", sum1[1], second.stdout)
	}
	runMigrate(t, bin, dbURL, toPG).want(t, 2, `the destination \(postgresql table `+table+`\) already holds data`)
	runMigrate(t, bin, dbURL, toPG, "-reset").want(t, 0, `Deleted `+keys[1]+` keys from the destination \(-reset\)\.(.|\n)*Success!`)
	// Counted independently of the tool: the table's rows are the file
	// store's keys.
	if rows := countRows(t, dbURL, table); fmt.Sprint(rows) != keys[1] {
		t.Fatalf("the PostgreSQL table holds %d rows, the file store %s keys", rows, keys[1])
	}

	// The raft copy serves too; while it runs, its files are refused.
	rs := startPGProcess(t, bin, raftConf, dbURL)
	runMigrate(t, bin, dbURL, toPG, "-reset").want(t, 2, `the source storage is in use by a running server \(raft at `)
	rc := newClient(t, rs.url, "")
	for _, k := range []string{init.Keys[0], init.Keys[2]} {
		if _, err := rc.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	rc.SetToken(init.RootToken)
	if got, err := rc.KVv2("secret").Get(ctx, "app3/db"); err != nil || got.Data["password"] != secrets["app3/db"] {
		t.Fatalf("app3/db on the raft copy: %+v %v", got, err)
	}
	stopProcess(t, rs)

	pg := startPGProcess(t, bin, pgConf, dbURL)
	runMigrate(t, bin, dbURL, writeConf(t, dir, "from-live-pg.hcl", fmt.Sprintf(
		"storage_source \"postgresql\" {\n  table = %q\n}\nstorage_destination \"file\" {\n  path = %q\n}\n", table, filepath.Join(dir, "file2")))).
		want(t, 2, `the source storage is in use by a running server \(postgresql table `+table+`\)`)
	c2 := newClient(t, pg.url, "")
	for _, k := range init.Keys[1:3] {
		if _, err := c2.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	c2.SetToken(init.RootToken)
	for path, value := range secrets {
		got, err := c2.KVv2("secret").Get(ctx, path)
		if err != nil || got.Data["password"] != value {
			t.Fatalf("%s after file → raft → postgresql: %+v %v", path, got, err)
		}
	}
	if n := countSecrets(t, c2, ""); n != len(secrets) {
		t.Fatalf("KV lists %d secrets after file → raft → postgresql, want %d", n, len(secrets))
	}
	if st, err := c2.Sys().SealStatus(); err != nil || st.StorageType != "postgresql" {
		t.Fatalf("seal status %+v %v", st, err)
	}
}

// countRows counts the rows of a PostgreSQL storage table.
func countRows(t *testing.T, dbURL, table string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// countSecrets counts the KV v2 secrets at secret/<dir> and below by
// listing their metadata.
func countSecrets(t *testing.T, c *api.Client, dir string) int {
	t.Helper()
	s, err := c.Logical().List("secret/metadata/" + dir)
	if err != nil || s == nil {
		t.Fatalf("list secret/metadata/%s: %v", dir, err)
	}
	n := 0
	for _, k := range s.Data["keys"].([]any) {
		if name := k.(string); strings.HasSuffix(name, "/") {
			n += countSecrets(t, c, dir+name)
		} else {
			n++
		}
	}
	return n
}

// stopProcess stops a server with SIGINT and waits for it to exit.
func stopProcess(t *testing.T, p *pgProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// TestMigrateConfigErrors: operator migrate names the file and line of a
// configuration mistake and exits 1 without touching any storage.
func TestMigrateConfigErrors(t *testing.T) {
	t.Parallel()
	bin := buildCoffer(t)
	cases := map[string]struct{ src, want string }{
		"unknown type": {"storage_source \"file\" {\n  path = \"a\"\n}\nstorage_destination \"consul\" {}\n",
			`bad.hcl:4: unknown storage_destination type "consul"`},
		"missing block": {"storage_source \"file\" {\n  path = \"a\"\n}\n", `bad.hcl: missing storage_destination block`},
		"inmem":         {"storage_source \"inmem\" {}\n", `bad.hcl:1: storage_source "inmem" cannot be migrated`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			conf := writeConf(t, t.TempDir(), "bad.hcl", tc.src)
			runMigrate(t, bin, "", conf).want(t, 1, regexp.QuoteMeta(tc.want))
		})
	}
}
