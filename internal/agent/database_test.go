package agent

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
)

// setupPostgres mounts the database engine on s against db (a new root
// user the engine may use) and returns after writing config "db".
func setupPostgres(t *testing.T, s *server, db *dbtest.Server) {
	t.Helper()
	must(t, s.root.Sys().Mount("database", &api.MountInput{Type: "database"}))
	user, pw := db.NewRoot(t)
	if _, err := s.root.Logical().Write("database/config/db", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": db.TemplateURL(),
		"username": user, "password": pw, "allowed_roles": "*",
	}); err != nil {
		t.Fatal(err)
	}
}

// connectAs opens the URL with pgx and returns current_user.
func connectAs(t *testing.T, dsn string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.TrimSpace(dsn))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var who string
	err = conn.QueryRow(ctx, "SELECT current_user").Scan(&who)
	return who, err
}

func urlUser(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(strings.TrimSpace(dsn))
	if err != nil {
		t.Fatalf("rendered URL does not parse: %v", err)
	}
	return u.User.Username()
}

// TestDatabaseURL is the mission in small: the agent renders
// database/creds/app's connection_url to a file, pgx connects with it as
// the dynamic user; the lease is renewed until its max TTL is near, then
// the agent fetches new credentials and rewrites the file (the command
// runs), the new URL connects, and the old user is gone once its lease
// ends on the server.
func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	s := startServer(t)
	setupPostgres(t, s, db)
	if _, err := s.root.Logical().Write("database/roles/app", map[string]any{
		// Renewals at about 3s and 6s, the second capped; new credentials
		// at about 7.5s; the old lease ends at 9s. Slack for a loaded machine.
		"db_name": "db", "default_ttl": "6s", "max_ttl": "9s",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	}); err != nil {
		t.Fatal(err)
	}
	must(t, s.root.Sys().PutPolicy("db", `path "database/creds/app" { capabilities = ["read"] }`))
	sec, err := s.root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"db"}, TTL: "1h"})
	must(t, err)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(sec.Auth.ClientToken), 0o600))
	out := filepath.Join(dir, "secrets", "db-url")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template_config { lease_renewal_threshold = 0.5 }
template {
  destination = %q
  contents = "{{ with secret \"database/creds/app\" }}{{ .Data.connection_url }}{{ end }}"
  command = "echo rendered >> %s"
}
`, s.url, tok, out, filepath.Join(dir, "ran")))
	run := start(t, cfg, Options{})

	first := waitFile(t, out, func(s string) bool { return s != "" })
	user1 := urlUser(t, first)
	db.CleanupUsers(t, user1)
	if who, err := connectAs(t, first); err != nil || who != user1 {
		t.Fatalf("connect with the rendered URL: %q %v", who, err)
	}
	if m := mode(t, out); m != 0o600 {
		t.Fatalf("mode %o", m)
	}
	second := waitFile(t, out, func(s string) bool { return s != "" && s != first })
	user2 := urlUser(t, second)
	db.CleanupUsers(t, user2)
	if who, err := connectAs(t, second); err != nil || who != user2 || user2 == user1 {
		t.Fatalf("connect with the new URL: %q (was %q) %v", who, user1, err)
	}
	if !strings.Contains(run.log.String(), "lease reaches its max TTL") {
		t.Fatalf("the lease was not renewed up to its max TTL first:\n%s", run.log.String())
	}
	waitFile(t, filepath.Join(dir, "ran"), func(s string) bool { return strings.Count(s, "rendered") >= 2 })
	deadline := time.Now().Add(60 * time.Second)
	for db.UserExists(t, user1) {
		if time.Now().After(deadline) {
			t.Fatalf("old user %s still exists after its lease ended", user1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := connectAs(t, first); err == nil {
		t.Fatal("the old URL still connects")
	}
}

// TestStaticRoleRotation: a static role's credentials are rendered, and
// rendered again after the role rotates (the agent reads again when the
// reported ttl runs out); the new password connects.
func TestStaticRoleRotation(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	s := startServer(t)
	setupPostgres(t, s, db)
	user, _ := db.NewUser(t)
	db.CleanupUsers(t, user)
	if _, err := s.root.Logical().Write("database/static-roles/st", map[string]any{
		"db_name": "db", "username": user, "rotation_period": "5s",
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(s.root.Token()), 0o600))
	out := filepath.Join(dir, "url")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "{{ with secret \"database/static-creds/st\" }}{{ .Data.connection_url }}{{ end }}"
}
`, s.url, tok, out))
	start(t, cfg, Options{})
	first := waitFile(t, out, func(s string) bool { return s != "" })
	second := waitFile(t, out, func(s string) bool { return s != "" && s != first })
	if who, err := connectAs(t, second); err != nil || who != user {
		t.Fatalf("connect after rotation: %q %v", who, err)
	}
}

// TestDatabaseLeaseRevoked: a lease revoked behind the agent's back (an
// operator's revoke-prefix) fails its next renewal; the agent then fetches
// new credentials and rewrites the file, and the new URL connects.
func TestDatabaseLeaseRevoked(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	s := startServer(t)
	setupPostgres(t, s, db)
	if _, err := s.root.Logical().Write("database/roles/app", map[string]any{
		"db_name": "db", "default_ttl": "3s", "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(s.root.Token()), 0o600))
	out := filepath.Join(dir, "db-url")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "{{ with secret \"database/creds/app\" }}{{ .Data.connection_url }}{{ end }}"
}
`, s.url, tok, out))
	run := start(t, cfg, Options{})
	first := waitFile(t, out, func(s string) bool { return s != "" })
	db.CleanupUsers(t, urlUser(t, first))
	if err := s.root.Sys().RevokePrefix("database/creds/app"); err != nil {
		t.Fatal(err)
	}
	second := waitFile(t, out, func(s string) bool { return s != "" && s != first })
	user2 := urlUser(t, second)
	db.CleanupUsers(t, user2)
	if who, err := connectAs(t, second); err != nil || who != user2 {
		t.Fatalf("connect with the new URL: %q %v", who, err)
	}
	if !strings.Contains(run.log.String(), "lease renewal failed") {
		t.Fatalf("the revocation was not noticed by a renewal:\n%s", run.log.String())
	}
}

// TestCacheDatabaseCreds: through the agent's caching listener, a second
// read of database/creds/app is answered from the cache (the same user,
// no second user in PostgreSQL); revoking the lease through the listener
// evicts it, and the next read makes a new user.
func TestCacheDatabaseCreds(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	s := startServer(t)
	setupPostgres(t, s, db)
	if _, err := s.root.Logical().Write("database/roles/app", map[string]any{
		"db_name": "db", "default_ttl": "1h", "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	must(t, os.WriteFile(tok, []byte(s.root.Token()), 0o600))
	sock := filepath.Join(dir, "agent.sock")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
cache {}
listener "unix" { address = %q }
`, s.url, tok, sock))
	start(t, cfg, Options{})
	c := newTestClient(t, "unix://"+sock, "")
	c.ClearToken()
	waitReady(t, c)
	read := func() *api.Secret {
		t.Helper()
		sec, err := c.Logical().Read("database/creds/app")
		if err != nil || sec == nil {
			t.Fatalf("creds through the proxy: %v", err)
		}
		db.CleanupUsers(t, sec.Data["username"].(string))
		return sec
	}
	a, b := read(), read()
	if a.LeaseID != b.LeaseID || a.Data["username"] != b.Data["username"] {
		t.Fatalf("not cached: %s then %s", a.Data["username"], b.Data["username"])
	}
	if who, err := connectAs(t, a.Data["connection_url"].(string)); err != nil || who != a.Data["username"] {
		t.Fatalf("cached credentials do not connect: %q %v", who, err)
	}
	if err := c.Sys().Revoke(a.LeaseID); err != nil {
		t.Fatal(err)
	}
	if n := read(); n.LeaseID == a.LeaseID {
		t.Fatal("a revoked lease is still served from the cache")
	}
}
