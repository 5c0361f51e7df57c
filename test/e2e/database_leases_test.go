package e2e

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// startDB starts a server on p, tuned by tune, initialising it (unless keys
// are given) and mounting the database engine at database/ on first start.
func startDB(t testing.TB, p physical.Backend, keys []string, root string, tune func(*core.Config)) *server {
	t.Helper()
	conf := core.Config{
		Physical: p, StorageType: "inmem", Version: "test", ClusterName: "e2e",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	}
	if tune != nil {
		tune(&conf)
	}
	co := core.New(conf)
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
	first := keys == nil
	if first {
		init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		keys, root = init.Keys, init.RootToken
	}
	s.keys, s.root = keys, root
	if _, err := s.client.Sys().Unseal(keys[0]); err != nil {
		t.Fatal(err)
	}
	s.client.SetToken(root)
	if first {
		if err := s.client.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// setupDB writes config "db" for a new root of srv (reached at url, a
// templated connection_url) and role "app" with the given TTLs.
func setupDB(t *testing.T, c *api.Client, srv *dbtest.Server, url string, role map[string]any) {
	t.Helper()
	user, pw := srv.NewRoot(t)
	if _, err := c.Logical().Write("database/config/db", map[string]any{
		"plugin_name": dbPlugin(srv), "connection_url": url, "username": user, "password": pw, "allowed_roles": "app",
	}); err != nil {
		t.Fatalf("config: %v", err)
	}
	data := map[string]any{"db_name": "db", "creation_statements": dbCreation(srv)}
	for k, v := range role {
		data[k] = v
	}
	if _, err := c.Logical().Write("database/roles/app", data); err != nil {
		t.Fatalf("role: %v", err)
	}
}

// dbCreds reads database/creds/app and returns the secret and user name.
func dbCreds(t *testing.T, c *api.Client, srv *dbtest.Server) (*api.Secret, string) {
	t.Helper()
	sec, err := c.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatalf("creds: %v", err)
	}
	user := sec.Data["username"].(string)
	srv.CleanupUsers(t, user)
	return sec, user
}

// TestDatabaseLeaseLifecycle: credentials come with a lease that renews
// (moving PostgreSQL's VALID UNTIL) and revokes (the user is gone and can
// no longer log in), through sys/leases.
func TestDatabaseLeaseLifecycle(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		s := startDB(t, inmem.New(), nil, "", nil)
		setupDB(t, s.client, srv, srv.TemplateURL(), map[string]any{"default_ttl": "5m", "max_ttl": "1h"})
		sec, user := dbCreds(t, s.client, srv)
		if !strings.HasPrefix(sec.LeaseID, "database/creds/app/") || sec.LeaseDuration != 300 || !sec.Renewable {
			t.Fatalf("lease %q duration %d renewable %v", sec.LeaseID, sec.LeaseDuration, sec.Renewable)
		}
		if err := srv.LoginAs(user, sec.Data["password"].(string)); err != nil {
			t.Fatal(err)
		}
		ren, err := s.client.Sys().Renew(sec.LeaseID, 1800)
		if err != nil || ren.LeaseDuration != 1800 {
			t.Fatalf("renew: %+v %v", ren, err)
		}
		if srv.Kind == "postgres" {
			var until time.Time
			if err := srv.Admin.QueryRow(`SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, user).Scan(&until); err != nil {
				t.Fatal(err)
			}
			if d := time.Until(until); d < 29*time.Minute || d > 31*time.Minute {
				t.Fatalf("VALID UNTIL is %v away after renewing for 30 minutes", d)
			}
		}
		if err := s.client.Sys().Revoke(sec.LeaseID); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if srv.UserExists(t, user) || srv.LoginAs(user, sec.Data["password"].(string)) == nil {
			t.Fatal("the user outlived its revoked lease")
		}
		if _, err := s.client.Sys().Lookup(sec.LeaseID); statusOf(err) != 400 {
			t.Fatalf("lookup of a revoked lease: %v", err)
		}
	})
}

// TestDatabaseLeaseExpiry: a lease that runs out removes its user without
// anyone asking; revoking the token that obtained credentials removes
// them too.
func TestDatabaseLeaseExpiry(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		s := startDB(t, inmem.New(), nil, "", nil)
		setupDB(t, s.client, srv, srv.TemplateURL(), map[string]any{"default_ttl": "2s"})
		sec, user := dbCreds(t, s.client, srv)
		if err := srv.Login(sec.Data["connection_url"].(string)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the expired user to be removed", func() bool { return !srv.UserExists(t, user) })
		if srv.Login(sec.Data["connection_url"].(string)) == nil {
			t.Fatal("login works after expiry")
		}

		tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
		if err != nil {
			t.Fatal(err)
		}
		_, user2 := dbCreds(t, s.as(t, tok.Auth.ClientToken), srv)
		if err := s.client.Auth().Token().RevokeTree(tok.Auth.ClientToken); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the token's credentials to be revoked", func() bool { return !srv.UserExists(t, user2) })
	})
}

// TestDatabaseRevocationRetried: with the database down when a lease
// expires, the lease stays, listed as failing and retried, and the user
// is removed once the database is back.
func TestDatabaseRevocationRetried(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		fast := func(c *core.Config) { c.LeaseRetryBase, c.LeaseRetryMax = 50*time.Millisecond, 300*time.Millisecond }
		s := startDB(t, inmem.New(), nil, "", fast)
		proxy := srv.NewProxy(t)
		setupDB(t, s.client, srv, srv.Via(proxy).TemplateURL(), map[string]any{"default_ttl": "1s"})
		sec, user := dbCreds(t, s.client, srv)
		proxy.Down()
		waitFor(t, "a failing revocation", func() bool {
			st, body := failing(t, s.client, "sys/leases/count")
			return st == 200 && body["data"].(map[string]any)["lease_count"] == 1.0
		})
		if !srv.UserExists(t, user) {
			t.Fatal("the user is gone although the database was down")
		}
		if _, err := s.client.Sys().Lookup(sec.LeaseID); err != nil {
			t.Fatalf("the lease of a failed revocation is gone: %v", err)
		}
		proxy.Up(t)
		waitFor(t, "the retried revocation", func() bool { return !srv.UserExists(t, user) })
		waitFor(t, "no failing lease", func() bool {
			st, body := failing(t, s.client, "sys/leases/count")
			return st == 200 && body["data"].(map[string]any)["lease_count"] == 0.0
		})
	})
}

// TestDatabaseLeaseSurvivesRestart: on file storage, credentials issued
// before the server stops expire on time after it starts again, and a
// longer lease is still renewable and revocable.
func TestDatabaseLeaseSurvivesRestart(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		dir := t.TempDir()
		p, err := bolt.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s := startDB(t, p, nil, "", nil)
		setupDB(t, s.client, srv, srv.TemplateURL(), map[string]any{"default_ttl": "4s", "max_ttl": "1h"})
		short, shortUser := dbCreds(t, s.client, srv)
		if _, err := s.client.Logical().Write("database/roles/app", map[string]any{"default_ttl": "1h"}); err != nil {
			t.Fatal(err)
		}
		long, longUser := dbCreds(t, s.client, srv)
		look, err := s.client.Sys().Lookup(short.LeaseID)
		if err != nil {
			t.Fatal(err)
		}
		expires, _ := time.Parse(time.RFC3339Nano, look.Data["expire_time"].(string))
		if err := s.core.Seal(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}

		p2, err := bolt.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p2.Close() })
		s2 := startDB(t, p2, s.keys, s.root, nil)
		waitFor(t, "the pre-restart credentials to expire", func() bool { return !srv.UserExists(t, shortUser) })
		if time.Now().Before(expires) {
			t.Fatalf("removed before its expiry %s", expires)
		}
		if !srv.UserExists(t, longUser) {
			t.Fatal("credentials not yet due were removed")
		}
		if _, err := s2.client.Sys().Renew(long.LeaseID, 60); err != nil {
			t.Fatalf("renew after restart: %v", err)
		}
		if err := s2.client.Sys().Revoke(long.LeaseID); err != nil {
			t.Fatal(err)
		}
		if srv.UserExists(t, longUser) {
			t.Fatal("revoke after restart left the user")
		}
	})
}
