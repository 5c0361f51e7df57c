package database

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/logical"
)

// TestRootPasswordNeverLeaks drives every path, failures included, with a
// recognisable root password and checks that it appears in no response,
// error or log line; and that a generated password echoed back by a
// failing statement is scrubbed from the error too.
func TestRootPasswordNeverLeaks(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		proxy := srv.NewProxy(t)
		user, pw := srv.NewRoot(t)
		var seen []string
		record := func(resp *logical.Response, err error) {
			if resp != nil {
				seen = append(seen, jsonString(t, resp.Data), strings.Join(resp.Warnings, " "))
			}
			if err != nil {
				seen = append(seen, err.Error())
			}
		}
		cfg := map[string]any{"plugin_name": pluginName(srv), "connection_url": srv.Via(proxy).TemplateURL(),
			"username": user, "password": pw, "allowed_roles": "*"}
		record(h.do(logical.UpdateOperation, "config/db", cfg))
		record(h.do(logical.UpdateOperation, "config/literal", map[string]any{"plugin_name": pluginName(srv),
			"connection_url": srv.URL(user, pw), "allowed_roles": "*"}))
		record(h.do(logical.UpdateOperation, "config/badport", map[string]any{"plugin_name": pluginName(srv),
			"connection_url": strings.Replace(srv.URL(user, pw), ":"+strconv.Itoa(srv.Port), ":99999", 1)}))
		record(h.do(logical.UpdateOperation, "config/wrongpw", map[string]any{"plugin_name": pluginName(srv),
			"connection_url": srv.TemplateURL(), "username": user, "password": pw + "-wrong"}))
		h.role("app", "db", nil)
		bad := `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' SYNTAX ERROR HERE`
		if srv.Kind == "mysql" {
			bad = `CREATE USER '{{name}}'@'%' IDENTIFIED BYY '{{password}}'`
		}
		h.role("broken", "db", map[string]any{"creation_statements": bad})
		for _, path := range []string{"config/db", "config/literal", "config/badport", "roles/app"} {
			record(h.do(logical.ReadOperation, path, nil))
		}
		resp, err := h.do(logical.ReadOperation, "creds/app", nil)
		record(resp, err)
		if resp != nil {
			srv.CleanupUsers(t, str(resp, "username"))
		}
		_, err = h.do(logical.ReadOperation, "creds/broken", nil)
		record(nil, err)
		// MySQL quotes the statement from the error on, password included.
		if srv.Kind == "mysql" && (err == nil || !strings.Contains(err.Error(), "'[password]'")) {
			t.Errorf("the generated password was not scrubbed from a failing statement's error: %v", err)
		}
		proxy.Down()
		record(h.do(logical.ReadOperation, "creds/app", nil))
		record(h.do(logical.UpdateOperation, "rotate-root/db", nil))
		record(h.do(logical.UpdateOperation, "reset/db", nil))
		if resp != nil {
			record(nil, h.revoke(resp))
		}
		proxy.Up(t)
		record(h.do(logical.UpdateOperation, "rotate-root/db", nil))
		if resp != nil {
			record(nil, h.revoke(resp))
		}
		record(h.do(logical.ReadOperation, "config/db", nil))
		rotated, _ := h.b.loadConfig(t.Context(), "db")
		for _, s := range append(seen, h.logs.String()) {
			for _, secret := range []string{pw, rotated.Password} {
				if secret != "" && strings.Contains(s, secret) {
					t.Errorf("a root password leaked: %s", s)
				}
			}
		}
		if len(seen) < 15 {
			t.Fatalf("only %d responses and errors seen", len(seen))
		}
	})
}

// TestCredsURLNeverCarriesRootPassword: a connection_url that templates
// the user name but writes the root password literally (in the userinfo,
// or for PostgreSQL in a password parameter) renders for a new user with
// that user's password only, and the rendered URL logs in.
func TestCredsURLNeverCarriesRootPassword(t *testing.T) {
	servers(t, func(t *testing.T, srv *dbtest.Server) {
		h := newHarness(t, srv)
		user, pw := srv.NewRoot(t)
		urls := map[string]string{"literal password": srv.URL("{{username}}", pw)}
		if srv.Kind != "mysql" {
			urls["password parameter"] = strings.Replace(srv.URL("{{username}}", ""), ":@", "@", 1) + "&password=" + pw
		}
		for name, u := range urls {
			h.mustDo(logical.UpdateOperation, "config/half", map[string]any{"plugin_name": pluginName(srv),
				"connection_url": u, "username": user, "allowed_roles": "*"})
			h.role("app", "half", nil)
			resp := h.creds("app")
			got := str(resp, "connection_url")
			if strings.Contains(got, pw) {
				t.Fatalf("%s: creds/app hands out the root password: %s", name, got)
			}
			if err := srv.Login(got); err != nil {
				t.Fatalf("%s: the rendered connection_url does not log in: %v", name, err)
			}
		}
	})
}
