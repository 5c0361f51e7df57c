package database

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestDefaultRevocationEndsSessions: without revocation statements, an
// open session of the user is ended and the user dropped.
func TestDefaultRevocationEndsSessions(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		h.role("app", "db", nil)
		resp := h.creds("app")
		session := openSession(t, srv, str(resp, "connection_url"))
		if err := h.revoke(resp); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if srv.UserExists(t, str(resp, "username")) {
			t.Fatal("user still exists")
		}
		// The server may take a moment to end the session.
		deadline := time.Now().Add(10 * time.Second)
		for session.PingContext(context.Background()) == nil {
			if time.Now().After(deadline) {
				t.Fatal("the revoked user's session is still open")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// openSession keeps one connection of dsn open.
func openSession(t testing.TB, srv *dbtest.Server, dsn string) *sql.Conn {
	t.Helper()
	db, err := dbtest.Open(srv.Kind, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxIdleConns(0)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestDefaultRevocationReassignsOwnedObjects: a PostgreSQL user that
// created a table and was granted privileges on others is still dropped
// by the default revocation; its table survives, owned by the root.
func TestDefaultRevocationReassignsOwnedObjects(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	rootUser, _ := h.configure("db", srv, nil)
	table := "owned_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	srv.Exec(t, "DROP TABLE IF EXISTS "+table)
	t.Cleanup(func() { srv.Exec(t, "DROP TABLE IF EXISTS "+table) })
	h.role("app", "db", map[string]any{"creation_statements": []string{
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
		`GRANT CREATE, USAGE ON SCHEMA public TO "{{name}}"`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`,
	}})
	resp := h.creds("app")
	session := openSession(t, srv, str(resp, "connection_url"))
	if _, err := session.ExecContext(context.Background(), "CREATE TABLE "+table+" (id int)"); err != nil {
		t.Fatalf("the user could not create a table: %v", err)
	}
	if err := h.revoke(resp); err != nil {
		t.Fatalf("revoke of a user owning a table: %v", err)
	}
	if srv.UserExists(t, str(resp, "username")) {
		t.Fatal("user still exists")
	}
	var owner string
	if err := srv.Admin.QueryRow(`SELECT tableowner FROM pg_tables WHERE tablename = $1`, table).Scan(&owner); err != nil {
		t.Fatalf("the user's table is gone: %v", err)
	}
	if owner != rootUser {
		t.Fatalf("table owner = %q, want the root %q", owner, rootUser)
	}
}

// TestCustomStatements: creation and revocation statements given as one
// string with semicolons, as a JSON array, and as base64 all work, and a
// PostgreSQL block with END runs whole.
func TestCustomStatements(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		// The grant covers every table of the shared test database, other
		// packages' included, so the role must lose it before it can go.
		revoke := `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"; DROP ROLE IF EXISTS "{{name}}"`
		create := strings.Split(creation(srv), "; ")
		if srv.Kind == "mysql" {
			revoke = `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%'`
		}
		forms := map[string]map[string]any{
			"string with semicolons": {"creation_statements": strings.Join(create, "; "), "revocation_statements": revoke},
			"json array":             {"creation_statements": create, "revocation_statements": []string{revoke}},
			"base64":                 {"creation_statements": b64(strings.Join(create, ";")), "revocation_statements": b64(revoke)},
			"json array in a string": {"creation_statements": jsonString(t, create), "revocation_statements": revoke},
		}
		if srv.Kind == "postgres" {
			forms["block with END"] = map[string]any{"creation_statements": `DO $$
BEGIN
  CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
  EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"';
END
$$;`, "revocation_statements": revoke}
		}
		for name, stmts := range forms {
			role := "r" + strings.ReplaceAll(name, " ", "")
			h.role(role, "db", stmts)
			resp := h.creds(role)
			if err := srv.LoginAs(str(resp, "username"), str(resp, "password")); err != nil {
				t.Errorf("%s: login: %v", name, err)
			}
			if err := h.revoke(resp); err != nil {
				t.Errorf("%s: revoke: %v", name, err)
			}
			if srv.UserExists(t, str(resp, "username")) {
				t.Errorf("%s: user not revoked", name)
			}
		}
	})
}

// TestFailedCreationLeavesNoUser: a creation that fails part-way (a
// statement after the user was made fails) leaves no user, with the
// rollback statements or without; the caller gets a 502 naming the config
// and no lease.
func TestFailedCreationLeavesNoUser(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		prefix := "fail" + strings.ToLower(srv.Kind[:2])
		h.configure("halfway", srv, map[string]any{"username_template": `{{ printf "` + prefix + `-%s" (random 12) }}`})
		srv.CleanupUsers(t, prefix)
		bad := `GRANT SELECT ON no_such_table_anywhere TO "{{name}}"`
		rollback := `DROP ROLE IF EXISTS "{{name}}"`
		if srv.Kind == "mysql" {
			bad = `GRANT SELECT ON ` + mysqlDB(srv) + `.no_such_table_anywhere TO '{{name}}'@'%'`
			rollback = `DROP USER IF EXISTS '{{name}}'@'%'`
		}
		first := strings.Split(creation(srv), "; ")[0]
		for name, extra := range map[string]map[string]any{
			"default rollback":    {"creation_statements": []string{first, bad}},
			"rollback statements": {"creation_statements": []string{first, bad}, "rollback_statements": rollback},
		} {
			role := strings.ReplaceAll(name, " ", "-")
			h.role(role, "halfway", extra)
			resp, err := h.do(logical.ReadOperation, "creds/"+role, nil)
			wantKind(t, err, logical.ErrUpstream, `database "halfway"`, "creation statement 2 of 2")
			if resp != nil {
				t.Errorf("%s: a failed creation answered %+v", name, resp)
			}
			if n := countUsers(t, srv, prefix); n != 0 {
				t.Errorf("%s: %d users left behind", name, n)
			}
		}
	})
}

// countUsers counts users whose names start with prefix.
func countUsers(t testing.TB, srv *dbtest.Server, prefix string) int {
	t.Helper()
	q, args := `SELECT COUNT(*) FROM pg_roles WHERE starts_with(rolname, $1)`, []any{prefix}
	if srv.Kind == "mysql" {
		q, args = `SELECT COUNT(*) FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(?)) = ?`, []any{prefix, prefix}
	}
	var n int
	if err := srv.Admin.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDatabaseDown: with the database unreachable, creds is a 502 naming
// the config and makes nothing; a revocation fails (so the lease manager
// keeps the lease and retries) and succeeds once the database is back.
func TestDatabaseDown(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		proxy := srv.NewProxy(t)
		prefix := "down" + strings.ToLower(srv.Kind[:2])
		h.configure("flaky", srv.Via(proxy), map[string]any{"username_template": `{{ printf "` + prefix + `-%s" (random 12) }}`})
		srv.CleanupUsers(t, prefix)
		h.role("app", "flaky", nil)
		issued := h.creds("app")

		proxy.Down()
		_, err := h.do(logical.ReadOperation, "creds/app", nil)
		wantKind(t, err, logical.ErrUpstream, `database "flaky" is unavailable`)
		if n := countUsers(t, srv, prefix); n != 1 {
			t.Fatalf("%d users exist, want only the one issued before the outage", n)
		}
		err = h.revoke(issued)
		wantKind(t, err, logical.ErrUpstream, `database "flaky" is unavailable`)
		if !srv.UserExists(t, str(issued, "username")) {
			t.Fatal("user gone although the revocation failed")
		}

		proxy.Up(t)
		if err := h.revoke(issued); err != nil {
			t.Fatalf("revoke once the database is back: %v", err)
		}
		if srv.UserExists(t, str(issued, "username")) {
			t.Fatal("user still exists after the retried revocation")
		}
		resp := h.creds("app")
		if err := srv.LoginAs(str(resp, "username"), str(resp, "password")); err != nil {
			t.Fatalf("creds after the outage: %v", err)
		}
	})
}

// TestRevokeWithRoleDeleted: the revocation statements kept with the lease
// are used when the role is gone.
func TestRevokeWithRoleDeleted(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		h.role("gone", "db", nil)
		resp := h.creds("gone")
		h.mustDo(logical.DeleteOperation, "roles/gone", nil)
		if err := h.revoke(resp); err != nil {
			t.Fatalf("revoke after the role was deleted: %v", err)
		}
		if srv.UserExists(t, str(resp, "username")) {
			t.Fatal("user still exists")
		}
		if _, err := h.renew(resp, 0); err == nil {
			t.Fatal("renewing a lease of a deleted role succeeded")
		}
	})
}

// TestOrphanSweep: when a creation fails part-way and its rollback fails
// too, the user is recorded and the sweeper removes it (falling back on
// the default revocation when the rollback statements keep failing).
func TestOrphanSweep(t *testing.T) {
	srv := dbtest.MySQL(t)
	h := newHarness(t, srv)
	h.configure("db", srv, map[string]any{"username_template": `{{ printf "orph-%s" (random 12) }}`})
	srv.CleanupUsers(t, "orph-")
	h.role("app", "db", map[string]any{
		"creation_statements": []string{`CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'`, `GRANT SELECT ON nosuchdb.nosuchtable TO '{{name}}'@'%'`},
		"rollback_statements": `DROP USERR '{{name}}'`,
	})
	_, err := h.do(logical.ReadOperation, "creds/app", nil)
	wantKind(t, err, logical.ErrUpstream, "rollback failed", "may remain")
	keys, _ := h.b.storage.List(context.Background(), orphanPrefix)
	if len(keys) != 1 || !srv.UserExists(t, keys[0]) {
		t.Fatalf("orphans recorded: %v", keys)
	}
	if left := h.b.sweepOrphans(context.Background()); left != 0 {
		t.Fatalf("%d orphans left after a sweep", left)
	}
	if srv.UserExists(t, keys[0]) {
		t.Fatal("the orphaned user still exists")
	}
	if keys, _ := h.b.storage.List(context.Background(), orphanPrefix); len(keys) != 0 {
		t.Fatalf("orphan records left: %v", keys)
	}
	if !strings.Contains(h.logs.String(), "will be removed when the database answers") {
		t.Fatal("the orphan was not logged")
	}
}

// TestRevokeWhereTheUserWasMade: a role whose db_name changes after it
// issued credentials revokes and renews those in the database they were
// made in, so the user does not outlive its lease.
func TestRevokeWhereTheUserWasMade(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		h.configure("db", srv, nil)
		nowhere := "postgres://{{username}}:{{password}}@127.0.0.1:1/x"
		if srv.Kind == "mysql" {
			nowhere = "{{username}}:{{password}}@tcp(127.0.0.1:1)/x"
		}
		h.configure("other", srv, map[string]any{"connection_url": nowhere, "verify_connection": false})
		h.role("app", "db", nil)
		resp := h.creds("app")
		h.mustDo(logical.UpdateOperation, "roles/app", map[string]any{"db_name": "other"})
		if _, err := h.renew(resp, time.Hour); err != nil {
			t.Fatalf("renew after the role moved: %v", err)
		}
		if err := h.revoke(resp); err != nil {
			t.Fatalf("revoke after the role moved: %v", err)
		}
		if srv.UserExists(t, str(resp, "username")) {
			t.Fatal("the user outlived its lease: revocation went to the role's new database")
		}
	})
}
