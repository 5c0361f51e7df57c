package database

import (
	"context"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestRotateRoot: after rotate-root the old root password stops working at
// once, credentials keep being issued with the new one, and the new one is
// stored and never returned; custom root_rotation_statements are used.
func TestRotateRoot(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		for name, extra := range map[string]map[string]any{
			"default statement": nil,
			"custom statement":  {"root_rotation_statements": rootRotation(srv)},
		} {
			t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
				h := newHarness(t, srv)
				user, old := h.configure("db", srv, extra)
				h.role("app", "db", nil)
				h.creds("app")
				if resp := h.mustDo(logical.UpdateOperation, "rotate-root/db", nil); resp != nil {
					t.Fatalf("rotate-root answered %+v", resp)
				}
				if srv.LoginAs(user, old) == nil {
					t.Fatal("the old root password still works")
				}
				cfg, err := h.b.loadConfig(context.Background(), "db")
				if err != nil || cfg.Password == old || cfg.PendingPassword != "" {
					t.Fatalf("stored config after rotation: %v pending %q changed %v", err, cfg.PendingPassword, cfg.Password != old)
				}
				if err := srv.LoginAs(user, cfg.Password); err != nil {
					t.Fatalf("the new root password does not work: %v", err)
				}
				resp := h.creds("app")
				if err := srv.LoginAs(str(resp, "username"), str(resp, "password")); err != nil {
					t.Fatalf("creds after rotation: %v", err)
				}
				if read := h.mustDo(logical.ReadOperation, "config/db", nil); strings.Contains(jsonString(t, read.Data), cfg.Password) {
					t.Fatal("config read returns the new root password")
				}
			})
		}
	})
}

func rootRotation(srv *dbtest.Server) string {
	if srv.Kind == "mysql" {
		return `ALTER USER '{{username}}'@'%' IDENTIFIED BY '{{password}}'`
	}
	return `ALTER ROLE "{{name}}" WITH PASSWORD '{{password}}'`
}

// TestRotateRootFailures: no username is a 400; a database that is down
// is a 502 that leaves the old password in force; a rotation interrupted
// after the database changed is finished on the next use.
func TestRotateRootFailures(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	h.mustDo(logical.UpdateOperation, "config/nouser", map[string]any{
		"plugin_name": pluginName(srv), "connection_url": srv.URL("postgres", ""), "allowed_roles": "*",
	})
	_, err := h.do(logical.UpdateOperation, "rotate-root/nouser", nil)
	wantKind(t, err, logical.ErrInvalidRequest, "no username in configuration")
	_, err = h.do(logical.UpdateOperation, "rotate-root/nosuch", nil)
	wantKind(t, err, logical.ErrInvalidRequest, `no database config named "nosuch"`)

	proxy := srv.NewProxy(t)
	user, old := h.configure("flaky", srv.Via(proxy), nil)
	proxy.Down()
	_, err = h.do(logical.UpdateOperation, "rotate-root/flaky", nil)
	wantKind(t, err, logical.ErrUpstream, `database "flaky" is unavailable`)
	proxy.Up(t)
	cfg, _ := h.b.loadConfig(context.Background(), "flaky")
	if cfg.Password != old || cfg.PendingPassword != "" {
		t.Fatal("a failed rotation changed the stored password")
	}
	if err := srv.LoginAs(user, old); err != nil {
		t.Fatalf("the old password stopped working after a failed rotation: %v", err)
	}

	// The server stopped after changing the database but before storing
	// the result: storage holds the new password as pending.
	const next = "Next-Root-Password-42"
	srv.Exec(t, `ALTER ROLE "`+user+`" WITH PASSWORD '`+next+`'`)
	cfg.PendingPassword = next
	if err := h.b.saveConfig(context.Background(), "flaky", cfg); err != nil {
		t.Fatal(err)
	}
	h.b.swapConn("flaky", nil)
	h.role("app", "flaky", nil)
	h.creds("app")
	cfg, _ = h.b.loadConfig(context.Background(), "flaky")
	if cfg.Password != next || cfg.PendingPassword != "" {
		t.Fatalf("the interrupted rotation was not finished: password changed %v, pending %q", cfg.Password == next, cfg.PendingPassword)
	}
}

// TestSCRAMPasswordAuthentication: with password_authentication =
// scram-sha-256 the server receives a SCRAM verifier, never the password
// (it stores the verifier even where the session asks for md5 hashing),
// and the user logs in; with "password" the server hashes what it gets.
func TestSCRAMPasswordAuthentication(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	url := srv.TemplateURL() + "&password_encryption=md5"
	for auth, prefix := range map[string]string{"password": "md5", "scram-sha-256": "SCRAM-SHA-256$4096:"} {
		name := strings.ReplaceAll(auth, "-", "")
		h.configure(name, srv, map[string]any{"connection_url": url, "password_authentication": auth})
		h.role(name, name, nil)
		resp := h.creds(name)
		var stored string
		if err := srv.Admin.QueryRow(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, str(resp, "username")).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, prefix) {
			t.Errorf("%s: stored password %.20q..., want prefix %q", auth, stored, prefix)
		}
		if err := srv.LoginAs(str(resp, "username"), str(resp, "password")); err != nil {
			t.Errorf("%s: login: %v", auth, err)
		}
		if r := h.mustDo(logical.ReadOperation, "config/"+name, nil); r.Data["connection_details"].(map[string]any)["password_authentication"] != auth {
			t.Errorf("%s: not reported by a config read", auth)
		}
	}
}
