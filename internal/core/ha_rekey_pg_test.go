package core

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
	"github.com/cofferhq/coffer/internal/registry"
)

// TestStandbyOfRekeyedStoreSeals: a standby on PostgreSQL still holds the
// unseal key from before a rekey on the active server; when it is elected
// its keyring does not open, and it must end up sealed and unsealable with
// the new shares. It stood by instead, answering sealed and ignoring every
// share, until restarted.
func TestStandbyOfRekeyedStoreSeals(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
	open := func() *Core {
		st, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table, HAEnabled: true, HATable: haTable})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return New(Config{Physical: st, StorageType: "postgresql", HA: st, StepDownWait: time.Millisecond,
			Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	}
	a, b := open(), open()
	res, err := a.Initialize(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Core{a, b} {
		if st, err := c.Unseal(ctx, res.Keys[0], false); err != nil || st.Sealed {
			t.Fatalf("unseal: %+v, %v", st, err)
		}
	}
	active, standby := a, b
	if a.Standby() {
		active, standby = b, a
	}
	rs, err := sysAdapter{active}.RekeyInit(ctx, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := sysAdapter{active}.RekeyUpdate(ctx, res.Keys[0], rs.Nonce)
	if err != nil || rk == nil || len(rk.Shares) != 1 {
		t.Fatalf("rekey: %+v, %v", rk, err)
	}
	_ = active.Seal(ctx) // resigns: the standby is elected
	deadline := time.Now().Add(20 * time.Second)
	for standby.Standby() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st, err := standby.Unseal(ctx, rk.Shares[0], false)
	if err != nil || st.Sealed {
		t.Fatalf("the rekeyed store's new share on the former standby: %+v, %v", st, err)
	}
	_ = standby.Seal(ctx)
}
