package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem/conformance"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	conformance.Run(t, func(t *testing.T) physical.Backend { return pgtest.Open(t, url) })
}

// TestTransactionIsAtomicOnDatabaseError makes PostgreSQL refuse the last
// statement of a transaction (a key too long for the btree index) and
// checks the earlier ones were rolled back with it.
func TestTransactionIsAtomicOnDatabaseError(t *testing.T) {
	t.Parallel()
	b := pgtest.Open(t, pgtest.URL(t))
	ctx := context.Background()
	huge := rand.Text() // random, so TOAST cannot compress it under the limit
	for len(huge) < 20000 {
		huge += rand.Text()
	}
	err := b.Transaction(ctx, []physical.TxnOp{
		{Entry: &physical.Entry{Key: "x", Value: []byte("1")}},
		{Entry: &physical.Entry{Key: huge, Value: []byte("2")}},
	})
	if err == nil {
		t.Fatal("transaction with an unindexable key succeeded")
	}
	if e, err := b.Get(ctx, "x"); err != nil || e != nil {
		t.Fatalf("Get(x) = %v, %v; want nothing (rolled back)", e, err)
	}
	// Any bytes make a key, and an empty value stays empty, not NULL.
	if err := b.Transaction(ctx, []physical.TxnOp{{Entry: &physical.Entry{Key: "a\x00b\xff", Value: nil}}}); err != nil {
		t.Fatal(err)
	}
	e, err := b.Get(ctx, "a\x00b\xff")
	if err != nil || e == nil || e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("Get(binary key) = %+v, %v; want an empty value", e, err)
	}
}

func TestSentinels(t *testing.T) {
	t.Parallel()
	b := pgtest.Open(t, pgtest.URL(t))
	ctx := context.Background()
	if err := b.Transaction(ctx, []physical.TxnOp{{}}); !errors.Is(err, postgres.ErrNilEntry) {
		t.Fatalf("nil entry: %v", err)
	}
	if err := b.Put(ctx, &physical.Entry{}); !errors.Is(err, postgres.ErrEmptyKey) {
		t.Fatalf("empty key: %v", err)
	}
}

// TestListSkipsNestedKeys checks that List visits one row per child, not
// every key below: a folder with many nested keys lists in a handful of
// index probes, which EXPLAIN ANALYZE's row counts show.
func TestListSkipsNestedKeys(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	b, table := pgtest.OpenTable(t, url)
	ctx := context.Background()
	var ops []physical.TxnOp
	for i := range 2000 {
		ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: fmt.Sprintf("big/%04d/x", i), Value: []byte("v")}})
	}
	ops = append(ops, physical.TxnOp{Entry: &physical.Entry{Key: "small", Value: []byte("v")}})
	if err := b.Transaction(ctx, ops); err != nil {
		t.Fatal(err)
	}
	got, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "big/,small" {
		t.Fatalf("List = %q", got)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Two children: the anchor, two recursive steps (the second runs off
	// the end), so a few rows, never thousands.
	var plan strings.Builder
	rows, err := conn.Query(ctx, `EXPLAIN (ANALYZE, FORMAT TEXT) `+postgres.ListQuery(table), []byte(""), 0)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if strings.Contains(plan.String(), "Seq Scan") {
		t.Fatalf("List scans the table:\n%s", plan.String())
	}
	for _, line := range strings.Split(plan.String(), "\n") {
		var n int
		if i := strings.Index(line, "actual time="); i >= 0 {
			if j := strings.Index(line[i:], "rows="); j >= 0 {
				fmt.Sscanf(line[i+j:], "rows=%d", &n)
			}
		}
		if n > 10 {
			t.Fatalf("a plan node returned %d rows; List should probe once per child:\n%s", n, plan.String())
		}
	}
}

func TestTableHeldByOneServerAndReused(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	b, table := pgtest.OpenTable(t, url)
	ctx := context.Background()
	if err := b.Put(ctx, &physical.Entry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	// While b holds the table, no other server may open it.
	if _, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table}); !errors.Is(err, postgres.ErrInUse) {
		t.Fatalf("second Open while the first holds the table: %v, want ErrInUse", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if e, err := b2.Get(ctx, "k"); err != nil || e == nil || string(e.Value) != "v" {
		t.Fatalf("Get after reopen = %+v, %v", e, err)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	schema := "coffer_test_" + strings.ToLower(rand.Text()[:10])
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err == nil {
			_, _ = c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			c.Close(context.Background())
		}
	})
	b, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: schema + ".kv"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Put(ctx, &physical.Entry{Key: "a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.kv`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.kv = %d, %v", schema, n, err)
	}
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		cfg  postgres.Config
		want error
	}{
		"no url":        {postgres.Config{}, postgres.ErrNoConnectionURL},
		"bad url":       {postgres.Config{ConnectionURL: "postgres://u:s3cr3t-pw@[::1"}, postgres.ErrBadConnectionURL},
		"bad table":     {postgres.Config{ConnectionURL: "postgres://x@127.0.0.1/test", Table: "kv; DROP TABLE x"}, postgres.ErrBadTable},
		"three parts":   {postgres.Config{ConnectionURL: "postgres://x@127.0.0.1/test", Table: "a.b.c"}, postgres.ErrBadTable},
		"leading digit": {postgres.Config{ConnectionURL: "postgres://x@127.0.0.1/test", Table: "1kv"}, postgres.ErrBadTable},
		"64 bytes":      {postgres.Config{ConnectionURL: "postgres://x@127.0.0.1/test", Table: "s." + strings.Repeat("k", 64)}, postgres.ErrBadTable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := postgres.Open(context.Background(), tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the password is in the error: %v", err)
			}
		})
	}
}

// TestCheckTableLength: a part of up to 63 bytes (PostgreSQL's limit) is
// accepted, a longer one is not.
func TestCheckTableLength(t *testing.T) {
	t.Parallel()
	if err := postgres.CheckTable("s_1." + strings.Repeat("k", 63)); err != nil {
		t.Errorf("63-byte name: %v", err)
	}
	if err := postgres.CheckTable(strings.Repeat("k", 64)); !errors.Is(err, postgres.ErrBadTable) {
		t.Errorf("64-byte name: %v, want ErrBadTable", err)
	}
}

// TestPasswordNeverInErrors connects where nothing listens, and with a
// wrong password to the real server, and checks the password appears in
// neither error.
func TestPasswordNeverInErrors(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-Zq8v1-never-print-me"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	urls := map[string]string{
		"nothing listens": "postgres://coffer:" + pw + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=5",
		"keyword form":    "host=127.0.0.1 port=1 user=coffer password=" + pw + " dbname=test sslmode=disable connect_timeout=5",
	}
	for name, u := range urls {
		_, err := postgres.Open(ctx, postgres.Config{ConnectionURL: u})
		if err == nil {
			t.Fatalf("%s: Open succeeded", name)
		}
		if strings.Contains(err.Error(), pw) {
			t.Fatalf("%s: the password is in the error: %v", name, err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s: the error does not say where it tried: %v", name, err)
		}
	}
}

// TestConcurrentOpens starts several servers on a new table at once: the
// table is created once (no CREATE TABLE race) and exactly one holds it.
func TestConcurrentOpens(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	table := pgtest.Table(t, url)
	type res struct {
		b   *postgres.Backend
		err error
	}
	out := make(chan res, 4)
	for range 4 {
		go func() {
			b, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: url, Table: table, MaxParallel: 1})
			out <- res{b, err}
		}()
	}
	won := 0
	for range 4 {
		r := <-out
		switch {
		case r.err == nil:
			won++
			defer r.b.Close()
		case !errors.Is(r.err, postgres.ErrInUse):
			t.Fatal(r.err)
		}
	}
	if won != 1 {
		t.Fatalf("%d servers hold the table, want 1", won)
	}
}

// TestInitLockWaitsForWritesInFlight: a write already running on the table
// when the init lock is taken (a killed server's last statement, which
// PostgreSQL finishes) ends before LockInit returns, so it cannot land in
// the middle of the init that follows.
func TestInitLockWaitsForWritesInFlight(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	b, table := pgtest.OpenTable(t, url)
	zombie, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close(ctx)
	tx, err := zombie.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (key, value) VALUES ('core/init-pending', '{}')`); err != nil {
		t.Fatal(err)
	}
	type locked struct {
		unlock func()
		err    error
	}
	got := make(chan locked, 1)
	go func() {
		u, err := b.LockInit(ctx)
		got <- locked{u, err}
	}()
	select {
	case l := <-got:
		if l.err == nil {
			l.unlock()
		}
		t.Fatalf("LockInit returned (%v) while a write to the table was in flight", l.err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if l.err != nil {
			t.Fatal(l.err)
		}
		l.unlock()
	case <-time.After(10 * time.Second):
		t.Fatal("LockInit still waiting after the write committed")
	}
}
