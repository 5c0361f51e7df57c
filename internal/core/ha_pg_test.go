package core_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	"github.com/cofferhq/coffer/internal/physical/postgres/pgtest"
	"github.com/cofferhq/coffer/internal/registry"
)

// pgHANode starts a server on a PostgreSQL table with HA, with a cluster
// port that has no keyring until the core hands it one.
func pgHANode(t *testing.T, url, table, haTable string) *haNode {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{ConnectionURL: url, Table: table, HAEnabled: true, HATable: haTable})
	if err != nil {
		t.Fatal(err)
	}
	layer, err := cluster.Listen("127.0.0.1:0", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return startHANode(t, st, layer, core.Config{StorageType: "postgresql", ClusterPort: layer})
}

// TestPostgresHALegacyStoreGetsClusterTLS: a PostgreSQL HA store
// initialised by a server without a cluster port holds no cluster TLS
// keyring; servers with one unseal it, the first active server writes the
// keyring, the standby reads it, and requests through the standby are
// forwarded rather than refused.
func TestPostgresHALegacyStoreGetsClusterTLS(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	table, haTable := pgtest.Table(t, url), pgtest.Table(t, url)
	ctx := context.Background()

	old, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: table, HAEnabled: true, HATable: haTable})
	if err != nil {
		t.Fatal(err)
	}
	oc := core.New(core.Config{Physical: old, StorageType: "postgresql", HA: old, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	init, err := oc.Initialize(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	key := base64.StdEncoding.EncodeToString(init.Keys[0])

	nodes := []*haNode{pgHANode(t, url, table, haTable), pgHANode(t, url, table, haTable)}
	for _, n := range nodes {
		var st struct{ Sealed bool }
		do(t, n, http.MethodPut, "sys/unseal", "", map[string]any{"key": key}, &st, 200)
		if st.Sealed {
			t.Fatal("still sealed")
		}
	}
	standby := -1
	eventually(t, "one active server and one standby", func() bool {
		a, s := 0, -1
		for i, n := range nodes {
			switch do(t, n, http.MethodGet, "sys/health", "", nil, nil, -1) {
			case http.StatusOK:
				a++
			case http.StatusTooManyRequests:
				s = i
			}
		}
		standby = s
		return a == 1 && s >= 0
	})
	// The standby forwards once it has read the keyring the active server
	// wrote (it polls every second).
	eventually(t, "a mount through the standby", func() bool {
		return do(t, nodes[standby], http.MethodPost, "sys/mounts/kv", init.RootToken, map[string]any{"type": "kv"}, nil, -1) == http.StatusNoContent
	})
	do(t, nodes[standby], http.MethodPut, "kv/x", init.RootToken, map[string]any{"v": "1"}, nil, http.StatusNoContent)
	var got struct{ Data map[string]string }
	do(t, nodes[standby], http.MethodGet, "kv/x", init.RootToken, nil, &got, http.StatusOK)
	if got.Data["v"] != "1" {
		t.Fatalf("read through the standby: %+v", got)
	}
}
