package database

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestVerifyConnection: a wrong password or address is a 400 carrying the
// driver's message with the password removed, and nothing is stored;
// verify_connection=false stores it, and creds then fail with a 502 naming
// the config.
func TestVerifyConnection(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, _ := srv.NewRoot(t)
		const wrong = "Wrong-Secret-Canary-0001"
		base := map[string]any{"plugin_name": pluginName(srv), "username": user, "password": wrong, "allowed_roles": "*"}
		with := func(extra map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range base {
				out[k] = v
			}
			for k, v := range extra {
				out[k] = v
			}
			return out
		}
		denied := "password authentication failed"
		if srv.Kind == "mysql" {
			denied = "Access denied"
		}
		for name, tc := range map[string]struct {
			data map[string]any
			want string
		}{
			"wrong password":         {with(map[string]any{"connection_url": srv.TemplateURL()}), denied},
			"wrong password in URL":  {with(map[string]any{"connection_url": srv.URL(user, wrong)}), denied},
			"nothing listening":      {with(map[string]any{"connection_url": srv.Via(closedPort(t)).TemplateURL()}), "error verifying connection"},
			"escaped password twice": {with(map[string]any{"connection_url": srv.TemplateURL(), "password": wrong + "/@:?"}), denied},
		} {
			_, err := h.do(logical.UpdateOperation, "config/"+strings.ReplaceAll(name, " ", "-"), tc.data)
			wantKind(t, err, logical.ErrInvalidRequest, "error verifying connection", tc.want)
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), "Canary") {
				t.Errorf("%s: the password is in the error: %v", name, err)
			}
		}
		if resp, _ := h.do(logical.ListOperation, "config/", nil); resp != nil {
			t.Fatalf("a config that failed verification was stored: %v", resp.Data)
		}
		h.mustDo(logical.UpdateOperation, "config/unverified", with(map[string]any{"connection_url": srv.TemplateURL(), "verify_connection": false}))
		h.role("app", "unverified", nil)
		_, err := h.do(logical.ReadOperation, "creds/app", nil)
		wantKind(t, err, logical.ErrUpstream, `database "unverified" is unavailable`)
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the password is in the error: %v", err)
		}
	})
}

// closedPort is a proxy that is down: an address where nothing listens.
func closedPort(t *testing.T) *dbtest.Proxy {
	p := dbtest.Postgres(t).NewProxy(t)
	p.Down()
	return p
}

// TestReadConfig: Vault's shape, and never the password, even when it was
// written into the connection_url.
func TestReadConfig(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	user, pw := h.configure("db", srv, map[string]any{
		"allowed_roles": []string{"a", "b*"}, "max_open_connections": 3, "max_connection_lifetime": "1m",
		"root_rotation_statements": `ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}'`,
	})
	resp := h.mustDo(logical.ReadOperation, "config/db", nil)
	want := map[string]any{
		"plugin_name": "postgresql-database-plugin", "plugin_version": "", "password_policy": "", "verify_connection": true,
		"skip_static_role_import_rotation":   false,
		"allowed_roles":                      []any{"a", "b*"},
		"root_credentials_rotate_statements": []any{`ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}'`},
		"connection_details": map[string]any{
			"connection_url": srv.TemplateURL(), "username": user, "max_open_connections": float64(3),
			"max_idle_connections": float64(0), "max_connection_lifetime": float64(60), "disable_escaping": false,
		},
	}
	if got := jsonOf(t, resp.Data); !equalJSON(got, want) {
		t.Fatalf("config read:\n got %v\nwant %v", got, want)
	}
	literal := h.mustDo(logical.UpdateOperation, "config/literal", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": srv.URL(user, pw),
	})
	if literal == nil || len(literal.Warnings) != 1 || !strings.Contains(literal.Warnings[0], "Password found in connection_url") {
		t.Fatalf("no warning about a password in the URL: %+v", literal)
	}
	kv := h.mustDo(logical.UpdateOperation, "config/keyvalue", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("host=%s port=%d dbname=%s user=%s password='%s' sslmode=disable", srv.Host, srv.Port, srv.Database, user, pw),
	})
	_ = kv
	for _, name := range []string{"db", "literal", "keyvalue"} {
		raw, _ := json.Marshal(h.mustDo(logical.ReadOperation, "config/"+name, nil).Data)
		if strings.Contains(string(raw), pw) {
			t.Errorf("config/%s read returns the password: %s", name, raw)
		}
	}
}

func jsonOf(t testing.TB, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestConfigAndRoleValidation: each user mistake is a 400 that says what
// to fix, and nothing is stored.
func TestConfigAndRoleValidation(t *testing.T) {
	h := newHarness(t, nil)
	ok := map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/x", "verify_connection": false}
	with := func(base, extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(out, k)
				continue
			}
			out[k] = v
		}
		return out
	}
	for name, tc := range map[string]struct {
		path string
		data map[string]any
		want string
	}{
		"no plugin":           {"config/x", with(ok, map[string]any{"plugin_name": nil}), "empty plugin name"},
		"unknown plugin":      {"config/x", with(ok, map[string]any{"plugin_name": "oracle-database-plugin"}), `unknown plugin_name "oracle-database-plugin"`},
		"no url":              {"config/x", with(ok, map[string]any{"connection_url": nil}), "connection_url cannot be empty"},
		"bad url":             {"config/x", with(ok, map[string]any{"connection_url": "postgres://x:y@[::1"}), "connection_url"},
		"password policy":     {"config/x", with(ok, map[string]any{"password_policy": "strong"}), "password_policy is not supported"},
		"template in root":    {"config/x", with(ok, map[string]any{"username": "{{password}}"}), "template variables"},
		"bad template":        {"config/x", with(ok, map[string]any{"username_template": "{{ .Nope }"}), "username_template"},
		"too long for pg":     {"config/x", with(ok, map[string]any{"username_template": `{{ random 64 }}`}), "at most 63"},
		"scram typo":          {"config/x", with(ok, map[string]any{"password_authentication": "scram"}), "password_authentication"},
		"negative pool":       {"config/x", with(ok, map[string]any{"max_open_connections": -1}), "max_open_connections"},
		"bad mysql dsn":       {"config/x", with(ok, map[string]any{"plugin_name": "mysql-database-plugin", "connection_url": "tcp(127.0.0.1"}), "connection_url"},
		"role without db":     {"roles/x", map[string]any{"creation_statements": "CREATE ROLE x"}, "database name is required"},
		"role without create": {"roles/x", map[string]any{"db_name": "x"}, "creation_statements are required"},
		"blank creation":      {"roles/x", map[string]any{"db_name": "x", "creation_statements": []any{"", " ;; ", "[]"}}, "creation_statements are required"},
		"statements number":   {"roles/x", map[string]any{"db_name": "x", "creation_statements": 7}, `field "creation_statements"`},
		"statements object":   {"roles/x", map[string]any{"db_name": "x", "creation_statements": []any{"a", map[string]any{}}}, "item 1"},
		"credential type":     {"roles/x", map[string]any{"db_name": "x", "creation_statements": "x", "credential_type": "rsa_private_key"}, "credential_type"},
		"ttl over max":        {"roles/x", map[string]any{"db_name": "x", "creation_statements": "x", "default_ttl": "2h", "max_ttl": "1h"}, "default_ttl"},
		"bad ttl":             {"roles/x", map[string]any{"db_name": "x", "creation_statements": "x", "default_ttl": "soon"}, "default_ttl"},
	} {
		_, err := h.do(logical.UpdateOperation, tc.path, tc.data)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantKind(t, err, logical.ErrInvalidRequest, tc.want)
	}
	for _, list := range []string{"config/", "roles/"} {
		if resp, _ := h.do(logical.ListOperation, list, nil); resp != nil {
			t.Errorf("%s holds %v after refused writes", list, resp.Data)
		}
	}
	_, err := h.do(logical.ReadOperation, "creds/x", nil)
	wantKind(t, err, logical.ErrInvalidRequest, "unknown role: x")
	h.mustDo(logical.UpdateOperation, "roles/orphan", map[string]any{"db_name": "nosuch", "creation_statements": "x"})
	_, err = h.do(logical.ReadOperation, "creds/orphan", nil)
	wantKind(t, err, logical.ErrInvalidRequest, `no database config named "nosuch"`)
}

// TestListReadDelete: LIST, read and DELETE of configs and roles, and the
// existence checks that tell create from update.
func TestListReadDelete(t *testing.T) {
	srv := dbtest.MySQL(t)
	h := newHarness(t, srv)
	h.configure("one", srv, nil)
	h.configure("two", srv, map[string]any{"plugin_name": "mysql-legacy-database-plugin"})
	h.role("r1", "one", nil)
	h.role("r2", "two", nil)
	if got := h.mustDo(logical.ListOperation, "config/", nil).Data["keys"]; fmt.Sprint(got) != "[one two]" {
		t.Fatalf("LIST config/ = %v", got)
	}
	if got := h.mustDo(logical.ListOperation, "roles", nil).Data["keys"]; fmt.Sprint(got) != "[r1 r2]" {
		t.Fatalf("LIST roles = %v", got)
	}
	legacy := h.creds("r2")
	if u := str(legacy, "username"); len(u) > 16 || !strings.HasPrefix(u, "v-r2-") {
		t.Fatalf("legacy plugin username %q is not Vault's legacy shape", u)
	}
	for _, name := range []string{"mysql-aurora-database-plugin", "mysql-rds-database-plugin"} {
		short := strings.Split(name, "-")[1]
		h.configure(short, srv, map[string]any{"plugin_name": name})
		h.role("r-"+short, short, nil)
		if u := str(h.creds("r-"+short), "username"); len(u) > 16 || !strings.HasPrefix(u, "v-r-"+short[:1]) {
			t.Fatalf("%s username %q is not Vault's legacy shape", name, u)
		}
		h.mustDo(logical.DeleteOperation, "roles/r-"+short, nil)
		h.mustDo(logical.DeleteOperation, "config/"+short, nil)
	}
	r := h.mustDo(logical.ReadOperation, "roles/r1", nil)
	if r.Data["db_name"] != "one" || r.Data["default_ttl"] != int64(3600) || r.Data["max_ttl"] != int64(86400) ||
		fmt.Sprint(r.Data["revocation_statements"]) != "[]" || r.Data["credential_type"] != "password" {
		t.Fatalf("role read: %v", r.Data)
	}
	for path, want := range map[string]bool{"config/one": true, "config/nope": false, "roles/r1": true, "roles/nope": false} {
		found, exists, err := h.fw.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: path})
		if err != nil || !found || exists != want {
			t.Errorf("existence of %s: found %v exists %v err %v", path, found, exists, err)
		}
	}
	h.mustDo(logical.DeleteOperation, "roles/r1", nil)
	h.mustDo(logical.DeleteOperation, "config/one", nil)
	if r, _ := h.do(logical.ReadOperation, "config/one", nil); r != nil {
		t.Fatal("config/one still readable")
	}
	if r, _ := h.do(logical.ReadOperation, "roles/r1", nil); r != nil {
		t.Fatal("roles/r1 still readable")
	}
	h.mustDo(logical.DeleteOperation, "config/one", nil)
	if err := h.revoke(legacy); err != nil {
		t.Fatal(err)
	}
}

// TestConfigChangeReplacesPool: writing a config replaces its pool (the old
// one is closed) and keeps the fields an update does not send; reset does
// the same from storage.
func TestConfigChangeReplacesPool(t *testing.T) {
	srv := dbtest.Postgres(t)
	h := newHarness(t, srv)
	h.configure("db", srv, map[string]any{"max_open_connections": 2})
	h.role("app", "db", nil)
	h.creds("app")
	first := h.b.conns["db"]
	if first == nil || first.cfg.MaxOpenConnections != 2 {
		t.Fatalf("pool after the first creds: %+v", first)
	}
	h.mustDo(logical.UpdateOperation, "config/db", map[string]any{"allowed_roles": "app"})
	second := h.b.conns["db"]
	if second == first || !first.closed {
		t.Fatal("the config change did not replace and close the pool")
	}
	if second.cfg.MaxOpenConnections != 2 || second.cfg.Password == "" || fmt.Sprint(second.cfg.AllowedRoles) != "[app]" {
		t.Fatalf("update lost fields: %+v", second.cfg)
	}
	h.creds("app")
	h.mustDo(logical.UpdateOperation, "reset/db", nil)
	if third := h.b.conns["db"]; third == second || !second.closed {
		t.Fatal("reset did not replace the pool")
	}
	h.creds("app")
	_, err := h.do(logical.UpdateOperation, "reset/nosuch", nil)
	wantKind(t, err, logical.ErrInvalidRequest, `no database config named "nosuch"`)
}

// TestConfigToAnotherServerNeedsThePassword: a write that points a config
// at another server without giving the password again is refused, so the
// stored root password is never sent to a server chosen by someone who may
// write configs but not read them; the same server keeps it.
func TestConfigToAnotherServerNeedsThePassword(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, pw := h.configure("db", srv, nil)
		proxy := srv.NewProxy(t)
		elsewhere := srv.Via(proxy).TemplateURL()
		_, err := h.do(logical.UpdateOperation, "config/db", map[string]any{"connection_url": elsewhere})
		wantKind(t, err, logical.ErrInvalidRequest, "reaches another server", "write the password again")
		if c, _ := h.b.loadConfig(t.Context(), "db"); c.ConnectionURL != srv.TemplateURL() {
			t.Fatalf("the refused write was stored: %s", c.ConnectionURL)
		}
		h.mustDo(logical.UpdateOperation, "config/db", map[string]any{"connection_url": srv.TemplateURL(), "allowed_roles": "app"})
		h.mustDo(logical.UpdateOperation, "config/db", map[string]any{"connection_url": elsewhere, "username": user, "password": pw})
		h.role("app", "db", nil)
		h.creds("app")
	})
}
