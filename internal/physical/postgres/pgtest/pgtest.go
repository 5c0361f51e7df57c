// Package pgtest gives tests a real PostgreSQL for the postgres storage
// backend: the server named by COFFER_TEST_POSTGRES_URL, else the local one
// at 127.0.0.1:5432 (user postgres, database test). When none answers a
// test is skipped, or fails when CI=true. Every backend it opens gets a
// table of its own, dropped when the test ends, so tests run in parallel
// on one database.
//
// It is test support: nothing in the server imports it.
package pgtest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/physical/postgres"
)

// Env names a PostgreSQL server for the tests, overriding the local one.
const Env = "COFFER_TEST_POSTGRES_URL"

const local = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	once     sync.Once
	found    string
	notFound error
)

// URL returns the connection URL of a server that answers, skipping (or,
// with CI=true, failing) t when there is none.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		u := os.Getenv(Env)
		if u == "" {
			u = local
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			notFound = err
			return
		}
		defer c.Close(ctx)
		if err := c.Ping(ctx); err != nil {
			notFound = err
			return
		}
		found = u
	})
	if notFound != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL for the tests (CI=true, so this fails; scripts/testdb.sh starts one): %v", notFound)
		}
		t.Skipf("no PostgreSQL for the tests (scripts/testdb.sh starts one): %v", notFound)
	}
	return found
}

// Table returns a fresh table name and drops that table when t ends.
func Table(t testing.TB, url string) string {
	t.Helper()
	table := "coffer_test_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("drop %s: %v", table, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			t.Logf("drop %s: %v", table, err)
		}
	})
	return table
}

// OpenTable opens a backend on a fresh table, closed and dropped when t
// ends, and returns it with the table's name.
func OpenTable(t testing.TB, url string) (*postgres.Backend, string) {
	t.Helper()
	table := Table(t, url)
	b, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: url, Table: table, MaxParallel: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, table
}

// Open opens a backend on a fresh table, as OpenTable does.
func Open(t testing.TB, url string) *postgres.Backend {
	t.Helper()
	b, _ := OpenTable(t, url)
	return b
}
