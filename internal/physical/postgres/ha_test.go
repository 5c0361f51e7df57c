package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
)

// openHA opens an HA backend on table and haTable with fast lock timing.
func openHA(t *testing.T, url, table, haTable string) *postgres.Backend {
	t.Helper()
	b, err := postgres.Open(context.Background(), postgres.Config{
		ConnectionURL: url, Table: table, MaxParallel: 4, HAEnabled: true, HATable: haTable,
		LockTTL: 1500 * time.Millisecond, RenewInterval: 300 * time.Millisecond, RetryInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type win struct {
	lost <-chan struct{}
	at   time.Time
}

func campaign(b *postgres.Backend, value string) chan win {
	c := make(chan win, 1)
	go func() {
		lost, err := b.Campaign(context.Background(), value)
		if err == nil {
			c <- win{lost, time.Now()}
		}
	}()
	return c
}

func TestHALockOneActiveAndTakeover(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
	a := openHA(t, url, table, haTable)
	b := openHA(t, url, table, haTable) // no ErrInUse: HA shares the table
	ctx := context.Background()

	la, err := a.Campaign(ctx, "server-a")
	if err != nil {
		t.Fatal(err)
	}
	wb := campaign(b, "server-b")
	select {
	case <-wb:
		t.Fatal("b won while a holds a live lock")
	case <-time.After(2 * time.Second): // longer than the TTL: a renews
	}
	if v, held, err := b.LeaderValue(ctx); err != nil || !held || v != "server-a" {
		t.Fatalf("b sees leader %q, %v, %v; want server-a", v, held, err)
	}

	// a closes: its row goes at once and b takes over at its next try.
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la:
	case <-time.After(5 * time.Second):
		t.Fatal("a's lost channel stayed open after Close")
	}
	var got win
	select {
	case got = <-wb:
	case <-time.After(10 * time.Second):
		t.Fatal("b did not take over after a closed")
	}
	t.Logf("takeover after close: %v", got.at.Sub(closed))
	if v, held, err := b.LeaderValue(ctx); err != nil || !held || v != "server-b" {
		t.Fatalf("leader after takeover %q, %v, %v; want server-b", v, held, err)
	}

	// b hangs (stops renewing): it must give up before c may take over.
	c := openHA(t, url, table, haTable)
	wc := campaign(c, "server-c")
	postgres.PauseRenewal(b)
	var lostAt time.Time
	select {
	case <-got.lost:
		lostAt = time.Now()
	case <-time.After(10 * time.Second):
		t.Fatal("b did not give up the lock after it stopped renewing")
	}
	var cw win
	select {
	case cw = <-wc:
	case <-time.After(10 * time.Second):
		t.Fatal("c did not take over the expired lock")
	}
	if cw.at.Before(lostAt) {
		t.Fatalf("c became active %v before b gave up: two active servers", lostAt.Sub(cw.at))
	}
	if v, _, _ := c.LeaderValue(ctx); v != "server-c" {
		t.Fatalf("leader %q, want server-c", v)
	}
}

func TestHAMethodsNeedHAEnabled(t *testing.T) {
	t.Parallel()
	b := pgtest.Open(t, pgtest.URL(t))
	if b.HAEnabled() {
		t.Fatal("HAEnabled without ha_enabled")
	}
	if _, err := b.Campaign(context.Background(), "x"); !errors.Is(err, postgres.ErrHADisabled) {
		t.Fatalf("Campaign: %v, want ErrHADisabled", err)
	}
	_, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: pgtest.URL(t), HAEnabled: true, HATable: "bad name"})
	if !errors.Is(err, postgres.ErrBadTable) {
		t.Fatalf("bad ha_table: %v, want ErrBadTable", err)
	}
}

// TestLocksFollowTheTableNotItsName: "t" and "public.t" name one table,
// so a server naming it either way takes the same locks: the init lock
// waits for the other's, and without HA the claim refuses the second
// server. Keyed by the name as written, both inited the table at once (and
// the one that failed removed the store the other had handed keys out for).
func TestLocksFollowTheTableNotItsName(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
	a := openHA(t, url, table, haTable)
	b := openHA(t, url, "public."+table, haTable)
	unlock, err := a.LockInit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if u, err := b.LockInit(wctx); err == nil {
		u()
		t.Fatal("the init lock through public.<table> was taken while the other server held it")
	}
	unlock()
	u, err := b.LockInit(ctx)
	if err != nil {
		t.Fatalf("init lock once released: %v", err)
	}
	u()

	_, owner := pgtest.OpenTable(t, url) // without HA: it claims the table
	if b2, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: "public." + owner}); !errors.Is(err, postgres.ErrInUse) {
		if err == nil {
			_ = b2.Close()
		}
		t.Fatalf("Open of public.<table> while another server holds <table>: %v, want ErrInUse", err)
	}
}
