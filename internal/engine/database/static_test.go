package database

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestStaticRoleLifecycle: creating a static role rotates the user's
// password at once (the old one stops working, the new one and the
// connection_url log in); static-creds answers the same password until
// rotate-role changes it; the role reads back without its password and is
// listed; deleting it leaves the user, with its last password, in place.
func TestStaticRoleLifecycle(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, old := h.staticUser(nil)
		before := time.Now()
		h.staticRole("app", user, nil)
		if srv.LoginAs(user, old) == nil {
			t.Fatal("the password from before the static role still works")
		}
		creds := h.staticCreds("app")
		pw := str(creds, "password")
		if str(creds, "username") != user || pw == "" || pw == old {
			t.Fatalf("static-creds: %v", creds.Data["username"])
		}
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("the static password does not log in: %v", err)
		}
		if err := srv.Login(str(creds, "connection_url")); err != nil {
			t.Fatalf("the connection_url does not log in: %v", err)
		}
		last, ok := creds.Data["last_vault_rotation"].(time.Time)
		if !ok || last.Before(before) {
			t.Fatalf("last_vault_rotation = %v", creds.Data["last_vault_rotation"])
		}
		if ttl := creds.Data["ttl"].(int64); ttl < 3500 || ttl > 3600 || creds.Data["rotation_period"] != int64(3600) {
			t.Fatalf("ttl %v rotation_period %v", ttl, creds.Data["rotation_period"])
		}
		if again := h.staticCreds("app"); str(again, "password") != pw {
			t.Fatal("reading static-creds changed the password")
		}

		read := h.mustDo(logical.ReadOperation, "static-roles/app", nil)
		if strings.Contains(jsonString(t, read.Data), pw) || read.Data["username"] != user || read.Data["db_name"] != "db" ||
			read.Data["rotation_period"] != int64(3600) || read.Data["credential_type"] != "password" {
			t.Fatalf("static role read: %s", jsonString(t, read.Data))
		}
		if list := h.mustDo(logical.ListOperation, "static-roles/", nil); jsonString(t, list.Data["keys"]) != `["app"]` {
			t.Fatalf("list: %v", list.Data)
		}

		if resp := h.mustDo(logical.UpdateOperation, "rotate-role/app", nil); resp != nil {
			t.Fatalf("rotate-role answered %+v", resp)
		}
		rotated := str(h.staticCreds("app"), "password")
		if rotated == pw || srv.LoginAs(user, pw) == nil {
			t.Fatal("rotate-role left the previous password working")
		}
		if err := srv.LoginAs(user, rotated); err != nil {
			t.Fatalf("the rotated password does not log in: %v", err)
		}

		h.mustDo(logical.DeleteOperation, "static-roles/app", nil)
		if !srv.UserExists(t, user) {
			t.Fatal("deleting the static role dropped the user")
		}
		if err := srv.LoginAs(user, rotated); err != nil {
			t.Fatalf("deleting the static role changed the password: %v", err)
		}
		_, err := h.do(logical.ReadOperation, "static-creds/app", nil)
		wantKind(t, err, logical.ErrInvalidRequest, "unknown role: app")
		_, err = h.do(logical.UpdateOperation, "rotate-role/app", nil)
		wantKind(t, err, logical.ErrInvalidRequest, "no static role found for role name")
	})
}

// TestStaticRoleSchedule: a rotation_schedule role reads back with its
// schedule and window, its ttl runs to the schedule's next slot, and
// switching to a rotation_period moves the next rotation accordingly.
func TestStaticRoleSchedule(t *testing.T) {
	srv := dbtest.Postgres(t)
	clock := newFakeClock()
	h := newHarnessOn(t, srv, logical.NewInmemStorage(), clock)
	user, _ := h.staticUser(nil)
	h.staticRole("app", user, map[string]any{"rotation_period": nil, "rotation_schedule": "0 0 * * SAT", "rotation_window": "2h"})
	r := h.stored("app")
	spec, err := parseSchedule("0 0 * * SAT")
	if err != nil {
		t.Fatal(err)
	}
	if want := spec.Next(r.LastVaultRotation); !r.NextVaultRotation.Equal(want) {
		t.Fatalf("next rotation %v, want %v", r.NextVaultRotation, want)
	}
	creds := h.staticCreds("app")
	if creds.Data["rotation_schedule"] != "0 0 * * SAT" || creds.Data["rotation_window"] != int64(7200) || creds.Data["rotation_period"] != nil {
		t.Fatalf("static-creds: %v", creds.Data)
	}
	if ttl := creds.Data["ttl"].(int64); time.Duration(ttl)*time.Second > 7*24*time.Hour || ttl <= 0 {
		t.Fatalf("ttl %d", ttl)
	}
	h.mustDo(logical.UpdateOperation, "static-roles/app", map[string]any{"rotation_period": "10m"})
	r = h.stored("app")
	if r.RotationSchedule != "" || r.RotationWindow != 0 || !r.NextVaultRotation.Equal(r.LastVaultRotation.Add(10*time.Minute)) {
		t.Fatalf("after switching to a period: %+v", redacted(r))
	}
	read := h.mustDo(logical.ReadOperation, "static-roles/app", nil)
	if read.Data["rotation_period"] != int64(600) || read.Data["rotation_schedule"] != nil {
		t.Fatalf("read: %v", read.Data)
	}
}

// TestStaticRoleRefused: bad input is a 400 that says what to fix, and
// nothing is stored (the user keeps its password).
func TestStaticRoleRefused(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, pw := h.staticUser(map[string]any{"allowed_roles": "app*"})
		rootUser := h.mustDo(logical.ReadOperation, "config/db", nil).Data["connection_details"].(map[string]any)["username"].(string)
		h.role("dyn", "db", nil)
		base := map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"}
		with := func(kv ...any) map[string]any {
			m := map[string]any{}
			for k, v := range base {
				m[k] = v
			}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(m, kv[i].(string))
				} else {
					m[kv[i].(string)] = kv[i+1]
				}
			}
			return m
		}
		for name, tc := range map[string]struct {
			role string
			data map[string]any
			want string
		}{
			"no username":          {"app", with("username", nil), "username is a required field"},
			"no db_name":           {"app", with("db_name", nil), "database name is a required field"},
			"unknown config":       {"app", with("db_name", "nosuch"), `no database config named "nosuch"`},
			"no rotation":          {"app", with("rotation_period", nil), "one of rotation_schedule or rotation_period must be provided"},
			"period and schedule":  {"app", with("rotation_schedule", "* * * * *"), "mutually exclusive fields rotation_period and rotation_schedule"},
			"short period":         {"app", with("rotation_period", "4s"), "rotation_period must be 5 seconds or more"},
			"window with period":   {"app", with("rotation_window", "2h"), "rotation_window is invalid with use of rotation_period"},
			"short window":         {"app", with("rotation_period", nil, "rotation_schedule", "* * * * *", "rotation_window", "59m"), "rotation_window must be 3600 seconds or more"},
			"bad schedule":         {"app", with("rotation_period", nil, "rotation_schedule", "every day"), "could not parse rotation_schedule"},
			"seconds in schedule":  {"app", with("rotation_period", nil, "rotation_schedule", "*/10 * * * * *"), "could not parse rotation_schedule"},
			"never fires":          {"app", with("rotation_period", nil, "rotation_schedule", "0 0 30 2 *"), "never fires"},
			"credential type":      {"app", with("credential_type", "rsa_private_key"), `unsupported credential_type "rsa_private_key"`},
			"template in username": {"app", with("username", "a{{password}}"), "must not contain {{"},
			"padded username":      {"app", with("username", "root "), "white space"},
			"missing user":         {"app", with("username", "coffer_no_such_user"), `user "coffer_no_such_user" does not exist in database "db"`},
			"root user":            {"app", with("username", rootUser), "is the root user of database"},
			"not allowed":          {"other", base, `"other" is not an allowed role`},
			"dynamic role's name":  {"dyn", base, "Role and Static Role names must be unique"},
		} {
			t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
				_, err := h.do(logical.CreateOperation, "static-roles/"+tc.role, tc.data)
				wantKind(t, err, logical.ErrInvalidRequest, tc.want)
				if r, _ := h.b.loadStaticRole(context.Background(), tc.role); r != nil {
					t.Fatal("a refused static role was stored")
				}
			})
		}
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("a refused static role changed the password: %v", err)
		}

		h.staticRole("app", user, nil)
		h.configure("db2", srv, nil) // another config of the same server
		for name, tc := range map[string]struct {
			path string
			data map[string]any
			want string
		}{
			"second role, same user": {"static-roles/app2", base, `user "` + user + `" of database "db" is already managed by static role "app"`},
			"same user, same server": {"static-roles/app3", with("db_name", "db2"), `already managed by static role "app" of database "db", which reaches the same server as "db2"`},
			"username change":        {"static-roles/app", map[string]any{"username": rootUser}, "cannot update static account username"},
			"skip on update":         {"static-roles/app", map[string]any{"skip_import_rotation": true}, "skip_import_rotation has no effect on updates"},
			"dynamic over static":    {"roles/app", map[string]any{"db_name": "db", "creation_statements": creation(srv)}, "Role and Static Role names must be unique"},
			"config root is managed": {"config/db", map[string]any{"username": user}, `user "` + user + `" is managed by static role "app"`},
		} {
			t.Run(strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
				_, err := h.do(logical.UpdateOperation, tc.path, tc.data)
				wantKind(t, err, logical.ErrInvalidRequest, tc.want)
			})
		}
		if r := h.stored("app"); r.Username != user {
			t.Fatalf("a refused update changed the role: %+v", redacted(r))
		}
	})
}

// TestStaticRoleRootFromURL: a root user named only in a literal
// connection_url is recognised too (the database says who the pool is).
func TestStaticRoleRootFromURL(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		root, pw := srv.NewRoot(t)
		h.mustDo(logical.UpdateOperation, "config/lit", map[string]any{
			"plugin_name": pluginName(srv), "connection_url": srv.URL(root, pw), "allowed_roles": "*",
		})
		_, err := h.do(logical.CreateOperation, "static-roles/app", map[string]any{"db_name": "lit", "username": root, "rotation_period": "1h"})
		wantKind(t, err, logical.ErrInvalidRequest, "is the root user of database")
		if err := srv.LoginAs(root, pw); err != nil {
			t.Fatalf("the root password changed: %v", err)
		}
	})
}

// TestStaticRoleAllowedRoles: a config's allowed_roles governs static
// roles as it does dynamic ones: creds and rotation are refused once the
// role is no longer allowed.
func TestStaticRoleAllowedRoles(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, _ := h.staticUser(map[string]any{"allowed_roles": "app"})
		h.staticRole("app", user, nil)
		pw := str(h.staticCreds("app"), "password")
		h.mustDo(logical.UpdateOperation, "config/db", map[string]any{"allowed_roles": "other"})
		_, err := h.do(logical.ReadOperation, "static-creds/app", nil)
		wantKind(t, err, logical.ErrInvalidRequest, `"app" is not an allowed role`)
		_, err = h.do(logical.UpdateOperation, "rotate-role/app", nil)
		wantKind(t, err, logical.ErrInvalidRequest, `"app" is not an allowed role`)
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("a refused rotation changed the password: %v", err)
		}
	})
}

// TestStaticRoleSkipImportRotation: with skip_import_rotation (or the
// config's skip_static_role_import_rotation) the user keeps its password
// until the first rotation, and static-creds says the password is unknown.
func TestStaticRoleSkipImportRotation(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		for name, tc := range map[string]struct {
			config, role map[string]any
		}{
			"role":   {nil, map[string]any{"skip_import_rotation": true}},
			"config": {map[string]any{"skip_static_role_import_rotation": true}, nil},
		} {
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, srv)
				user, old := h.staticUser(tc.config)
				h.staticRole("app", user, tc.role)
				if err := srv.LoginAs(user, old); err != nil {
					t.Fatalf("skip_import_rotation rotated the password: %v", err)
				}
				creds := h.staticCreds("app")
				if str(creds, "password") != "" || creds.Data["connection_url"] != nil || len(creds.Warnings) == 0 {
					t.Fatalf("static-creds before the first rotation: %v %v", creds.Data, creds.Warnings)
				}
				h.mustDo(logical.UpdateOperation, "rotate-role/app", nil)
				if err := srv.Login(str(h.staticCreds("app"), "connection_url")); err != nil || srv.LoginAs(user, old) == nil {
					t.Fatalf("after the first rotation: %v", err)
				}
			})
		}
	})
}

// TestStaticRoleCustomStatements: rotation_statements set the password,
// and a statement that fails is a 502 that leaves the old password.
func TestStaticRoleCustomStatements(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, _ := h.staticUser(nil)
		h.staticRole("app", user, map[string]any{"rotation_statements": rootRotation(srv)})
		pw := str(h.staticCreds("app"), "password")
		if err := srv.LoginAs(user, pw); err != nil {
			t.Fatalf("custom rotation statements: %v", err)
		}
		h.mustDo(logical.UpdateOperation, "static-roles/app", map[string]any{"rotation_statements": "ALTER NONSENSE {{name}}"})
		_, err := h.do(logical.UpdateOperation, "rotate-role/app", nil)
		wantKind(t, err, logical.ErrUpstream, `database "db" failed rotating the password of static role "app"`)
		if strings.Contains(err.Error(), pw) {
			t.Fatal("the password is in the error")
		}
		if got := str(h.staticCreds("app"), "password"); got != pw || srv.LoginAs(user, pw) != nil {
			t.Fatal("a failed rotation changed the password")
		}
		if r := h.stored("app"); r.PendingPassword != "" {
			t.Fatal("a failed rotation left a pending password")
		}
	})
}

// TestStaticRoleSCRAM: with password_authentication=scram-sha-256 the
// static user's password is sent as a SCRAM verifier and logs in.
func TestStaticRoleSCRAM(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	user, _ := h.staticUser(map[string]any{"password_authentication": "scram-sha-256", "connection_url": srv.TemplateURL() + "&password_encryption=md5"})
	h.staticRole("app", user, nil)
	var stored string
	if err := srv.Admin.QueryRow(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, user).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "SCRAM-SHA-256$") {
		t.Fatalf("stored %.14q...", stored)
	}
	if err := srv.LoginAs(user, str(h.staticCreds("app"), "password")); err != nil {
		t.Fatal(err)
	}
}
