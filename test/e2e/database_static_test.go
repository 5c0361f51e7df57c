package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// staticSetup writes config "db" for a new root of srv and returns a new
// user for a static role to manage, with its password.
func staticSetup(t *testing.T, c *api.Client, srv *dbtest.Server) (user, password, root string) {
	t.Helper()
	root, rootPW := srv.NewRoot(t)
	if _, err := c.Logical().Write("database/config/db", map[string]any{
		"plugin_name": dbPlugin(srv), "connection_url": srv.TemplateURL(), "username": root, "password": rootPW,
		"allowed_roles": []string{"app", "fast"},
	}); err != nil {
		t.Fatalf("config: %v", err)
	}
	user, password = srv.NewUser(t)
	return user, password, root
}

// staticCreds reads database/static-creds/name.
func staticCreds(t *testing.T, c *api.Client, name string) *api.Secret {
	t.Helper()
	sec, err := c.Logical().Read("database/static-creds/" + name)
	if err != nil || sec == nil {
		t.Fatalf("static-creds/%s: %v", name, err)
	}
	return sec
}

// TestDatabaseStaticRoles drives static roles through the OpenBao client
// on both databases: creating one rotates the user's password (the old one
// stops working); static-creds answers a password and a connection_url
// that log in, with Vault's fields; rotate-role changes it; the role reads
// back without its password; mistakes are 400s; deleting the role leaves
// the user.
func TestDatabaseStaticRoles(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		s := startDB(t, inmem.New(), nil, "", nil)
		c := s.client
		user, old, root := staticSetup(t, c, srv)
		if _, err := c.Logical().Write("database/static-roles/app", map[string]any{
			"db_name": "db", "username": user, "rotation_period": "1h",
		}); err != nil {
			t.Fatalf("static role: %v", err)
		}
		if srv.LoginAs(user, old) == nil {
			t.Fatal("the password from before the static role still works")
		}
		sec := staticCreds(t, c, "app")
		pw, _ := sec.Data["password"].(string)
		if sec.Data["username"] != user || pw == "" || sec.LeaseID != "" || sec.LeaseDuration != 0 {
			t.Fatalf("static-creds: user %v lease %q/%d", sec.Data["username"], sec.LeaseID, sec.LeaseDuration)
		}
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("login with the static password: %v", err)
		}
		if err := srv.Login(sec.Data["connection_url"].(string)); err != nil {
			t.Fatalf("login with the connection_url: %v", err)
		}
		ttl, _ := sec.Data["ttl"].(json.Number).Int64()
		period, _ := sec.Data["rotation_period"].(json.Number).Int64()
		last, err := time.Parse(time.RFC3339Nano, sec.Data["last_vault_rotation"].(string))
		if ttl < 3500 || ttl > 3600 || period != 3600 || err != nil || time.Since(last) > time.Minute {
			t.Fatalf("ttl %d rotation_period %d last_vault_rotation %v (%v)", ttl, period, sec.Data["last_vault_rotation"], err)
		}

		role, err := c.Logical().Read("database/static-roles/app")
		if err != nil || role == nil {
			t.Fatalf("read static role: %v", err)
		}
		raw, _ := json.Marshal(role.Data)
		if strings.Contains(string(raw), pw) || role.Data["username"] != user || role.Data["db_name"] != "db" {
			t.Fatalf("static role read: %s", raw)
		}
		if list, err := c.Logical().List("database/static-roles"); err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}

		if _, err := c.Logical().Write("database/rotate-role/app", nil); err != nil {
			t.Fatalf("rotate-role: %v", err)
		}
		rotated := staticCreds(t, c, "app").Data["password"].(string)
		if rotated == pw || srv.LoginAs(user, pw) == nil {
			t.Fatal("rotate-role left the previous password working")
		}
		if err := srv.LoginAs(user, rotated); err != nil {
			t.Fatalf("login after rotate-role: %v", err)
		}

		_, err = c.Logical().Write("database/static-roles/fast", map[string]any{"db_name": "db", "username": root, "rotation_period": "1h"})
		wantStatus(t, err, 400, "is the root user of database")
		_, err = c.Logical().Write("database/static-roles/fast", map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"})
		wantStatus(t, err, 400, `is already managed by static role "app"`)
		_, err = c.Logical().Write("database/static-roles/fast", map[string]any{"db_name": "db", "username": "coffer_nobody", "rotation_period": "1h"})
		wantStatus(t, err, 400, `user "coffer_nobody" does not exist`)
		_, err = c.Logical().Write("database/rotate-role/nosuch", nil)
		wantStatus(t, err, 400, "no static role found for role name")
		_, err = c.Logical().Read("database/static-creds/nosuch")
		wantStatus(t, err, 400, "unknown role: nosuch")

		if _, err := c.Logical().Delete("database/static-roles/app"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if !srv.UserExists(t, user) || srv.LoginAs(user, rotated) != nil {
			t.Fatal("deleting the static role changed the user")
		}
	})
}

// TestDatabaseStaticRotationFires: with a rotation_period of 5 seconds the
// server rotates the password by itself.
func TestDatabaseStaticRotationFires(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		s := startDB(t, inmem.New(), nil, "", nil)
		user, _, _ := staticSetup(t, s.client, srv)
		if _, err := s.client.Logical().Write("database/static-roles/fast", map[string]any{
			"db_name": "db", "username": user, "rotation_period": "5s",
		}); err != nil {
			t.Fatal(err)
		}
		first := staticCreds(t, s.client, "fast").Data["password"].(string)
		var next string
		waitFor(t, "the scheduled rotation", func() bool {
			next = staticCreds(t, s.client, "fast").Data["password"].(string)
			return next != first
		})
		if err := srv.LoginAs(user, next); err != nil {
			t.Fatalf("the scheduled rotation's password: %v", err)
		}
		if srv.LoginAs(user, first) == nil {
			t.Fatal("the password from before the scheduled rotation still works")
		}
	})
}

// TestDatabaseStaticRestart: on file storage, a static role's password and
// schedule survive a restart, and it can still be rotated.
func TestDatabaseStaticRestart(t *testing.T) {
	t.Parallel()
	databaseServers(t, func(t *testing.T, srv *dbtest.Server) {
		dir := t.TempDir()
		p, err := bolt.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s := startDB(t, p, nil, "", nil)
		user, _, _ := staticSetup(t, s.client, srv)
		if _, err := s.client.Logical().Write("database/static-roles/app", map[string]any{
			"db_name": "db", "username": user, "rotation_schedule": "0 0 1 * *",
		}); err != nil {
			t.Fatal(err)
		}
		before := staticCreds(t, s.client, "app")
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
		after := staticCreds(t, s2.client, "app")
		ttlBefore, _ := before.Data["ttl"].(json.Number).Int64()
		ttlAfter, _ := after.Data["ttl"].(json.Number).Int64()
		if after.Data["password"] != before.Data["password"] || after.Data["last_vault_rotation"] != before.Data["last_vault_rotation"] ||
			after.Data["rotation_schedule"] != "0 0 1 * *" || ttlAfter > ttlBefore || ttlBefore-ttlAfter > 120 {
			t.Fatalf("after the restart: ttl %d → %d, schedule %v", ttlBefore, ttlAfter, after.Data["rotation_schedule"])
		}
		if err := srv.Login(after.Data["connection_url"].(string)); err != nil {
			t.Fatalf("the password after the restart: %v", err)
		}
		if _, err := s2.client.Logical().Write("database/rotate-role/app", nil); err != nil {
			t.Fatalf("rotate-role after the restart: %v", err)
		}
		if err := srv.Login(staticCreds(t, s2.client, "app").Data["connection_url"].(string)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDatabaseStaticRemount: a static role moves with its mount
// (sys/remount builds the engine anew at the new path while the old one is
// retired): its password stays and it can be read and rotated there.
func TestDatabaseStaticRemount(t *testing.T) {
	t.Parallel()
	srv := dbtest.Postgres(t)
	s := startDB(t, inmem.New(), nil, "", nil)
	user, _, _ := staticSetup(t, s.client, srv)
	if _, err := s.client.Logical().Write("database/static-roles/app", map[string]any{
		"db_name": "db", "username": user, "rotation_period": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	before := staticCreds(t, s.client, "app").Data["password"]
	if err := s.client.Sys().Remount("database", "db-moved"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	after, err := s.client.Logical().Read("db-moved/static-creds/app")
	if err != nil || after == nil || after.Data["password"] != before {
		t.Fatalf("static-creds after the move: %v", err)
	}
	if _, err := s.client.Logical().Write("db-moved/rotate-role/app", nil); err != nil {
		t.Fatalf("rotate-role after the move: %v", err)
	}
	rotated, err := s.client.Logical().Read("db-moved/static-creds/app")
	if err != nil || rotated.Data["password"] == before {
		t.Fatalf("rotate-role after the move did not rotate: %v", err)
	}
	if err := srv.Login(rotated.Data["connection_url"].(string)); err != nil {
		t.Fatal(err)
	}
}
