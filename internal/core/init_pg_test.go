package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/physical/cache"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/system"
)

// TestConcurrentInitOnSharedPostgres: two servers on one PostgreSQL HA
// table told to init at the same moment init one after the other: one
// answers with keys, the other that the store is initialised, and the keys
// unseal a third server on the table. Before the init lock both answered
// with keys and at most one set opened the store.
func TestConcurrentInitOnSharedPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	open := func(table, haTable string) *core.Core {
		st, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table, HAEnabled: true, HATable: haTable})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return core.New(core.Config{Physical: st, StorageType: "postgresql", HA: st, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	}
	for round := range 5 {
		table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
		servers := []*core.Core{open(table, haTable), open(table, haTable)}
		results := make([]system.InitResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, c := range servers {
			wg.Go(func() { results[i], errs[i] = c.Initialize(ctx, 1, 1) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case err == nil:
				t.Fatalf("round %d: both servers initialised the store", round)
			case !errors.Is(err, seal.ErrAlreadyInitialized):
				t.Fatalf("round %d: server %d: %v", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither server initialised: %v", round, errs)
		}
		third := open(table, haTable)
		st, err := third.Unseal(ctx, results[won].Keys[0], false)
		if err != nil || st.Sealed {
			t.Fatalf("round %d: the winner's key on a third server: %+v, %v", round, st, err)
		}
		_ = third.Seal(ctx)
	}
}

// TestSealedServerSeesSharedInit: a sealed server on a PostgreSQL HA table
// whose seal status was read (health checks do it all the time) before
// another server initialised the table sees it initialised and unseals
// with the other's keys. Its read cache had kept "no keyring": it answered
// uninitialised and refused the keys until restarted.
func TestSealedServerSeesSharedInit(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
	open := func() *core.Core {
		st, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table, HAEnabled: true, HATable: haTable})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return core.New(core.Config{Physical: cache.New(st, 0), StorageType: "postgresql", HA: st,
			Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	}
	a, b := open(), open()
	for range 3 { // the cache admits a value at its second miss
		if st, err := b.SealStatus(ctx); err != nil || st.Initialized {
			t.Fatalf("before init: %+v, %v", st, err)
		}
	}
	res, err := a.Initialize(ctx, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.SealStatus(ctx); err != nil || !st.Initialized || st.T != 2 {
		t.Fatalf("after the other server's init: %+v, %v", st, err)
	}
	var st system.SealStatus
	for _, k := range res.Keys[:2] {
		if st, err = b.Unseal(ctx, k, false); err != nil {
			t.Fatal(err)
		}
	}
	if st.Sealed {
		t.Fatalf("the other server's keys left it sealed: %+v", st)
	}
	_ = b.Seal(ctx)
}
