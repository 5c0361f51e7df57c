package database

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// syncBuffer collects the backend's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is one mount of the engine on in-memory storage, in front of a
// real database server.
type harness struct {
	t    testing.TB
	b    *backend
	fw   *framework.Backend
	srv  *dbtest.Server
	logs *syncBuffer
}

func newHarness(t testing.TB, srv *dbtest.Server) *harness {
	t.Helper()
	logs := &syncBuffer{}
	b := newBackend(&logical.BackendConfig{
		Storage: logical.NewInmemStorage(),
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		System:  logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour},
	}, Plugins())
	fw := b.framework()
	t.Cleanup(func() { fw.Cleanup(context.Background()) })
	return &harness{t: t, b: b, fw: fw, srv: srv, logs: logs}
}

// servers runs f once per kind of database that is available.
func servers(t *testing.T, f func(t *testing.T, srv *dbtest.Server)) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			srv := dbtest.Postgres
			if kind == "mysql" {
				srv = dbtest.MySQL
			}
			f(t, srv(t))
		})
	}
}

// do sends one request; data is converted through JSON as a client's body
// is.
func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	h.t.Helper()
	return h.doAs(op, path, data, "token")
}

func (h *harness) doAs(op logical.Operation, path string, data map[string]any, display string) (*logical.Response, error) {
	h.t.Helper()
	req := &logical.Request{Operation: op, Path: path, Data: jsonRoundTrip(h.t, data), Storage: h.b.storage,
		Auth: &logical.Auth{DisplayName: display}}
	return h.fw.HandleRequest(context.Background(), req)
}

func (h *harness) mustDo(op logical.Operation, path string, data map[string]any) *logical.Response {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if err != nil {
		h.t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

func jsonRoundTrip(t testing.TB, data map[string]any) map[string]any {
	t.Helper()
	if data == nil {
		return nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// pluginName is the plugin_name for a server.
func pluginName(srv *dbtest.Server) string {
	if srv.Kind == "mysql" {
		return "mysql-database-plugin"
	}
	return "postgresql-database-plugin"
}

// creation returns creation statements that let the user read the test
// database.
func creation(srv *dbtest.Server) string {
	if srv.Kind == "mysql" {
		return `CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON ` + mysqlDB(srv) + `.* TO '{{name}}'@'%'`
	}
	return `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"`
}

func mysqlDB(srv *dbtest.Server) string {
	if srv.Database == "" {
		return "test"
	}
	return srv.Database
}

// configure writes config name for a fresh root user of srv (so the test
// may rotate it) with extra fields, and returns the root's password.
func (h *harness) configure(name string, srv *dbtest.Server, extra map[string]any) (rootUser, rootPassword string) {
	h.t.Helper()
	rootUser, rootPassword = h.srv.NewRoot(h.t)
	data := map[string]any{
		"plugin_name": pluginName(srv), "connection_url": srv.TemplateURL(),
		"username": rootUser, "password": rootPassword, "allowed_roles": "*",
	}
	for k, v := range extra {
		data[k] = v
	}
	h.mustDo(logical.UpdateOperation, "config/"+name, data)
	return rootUser, rootPassword
}

// role writes role name on config db with extra fields.
func (h *harness) role(name, db string, extra map[string]any) {
	h.t.Helper()
	data := map[string]any{"db_name": db, "creation_statements": creation(h.srv), "default_ttl": "1h", "max_ttl": "24h"}
	for k, v := range extra {
		data[k] = v
	}
	h.mustDo(logical.UpdateOperation, "roles/"+name, data)
}

// creds reads creds/<role> and returns the response, whose Secret is what
// the lease manager would keep.
func (h *harness) creds(role string) *logical.Response {
	h.t.Helper()
	resp := h.mustDo(logical.ReadOperation, "creds/"+role, nil)
	if resp == nil || resp.Secret == nil || resp.Secret.SecretType() != credsSecretType {
		h.t.Fatalf("creds/%s: not a leased response: %+v", role, resp)
	}
	h.srv.CleanupUsers(h.t, resp.Data["username"].(string))
	return resp
}

// leased is the Secret as the lease manager hands it back: its
// InternalData through JSON, as stored.
func leased(t testing.TB, s *logical.Secret) *logical.Secret {
	t.Helper()
	out := *s
	out.InternalData = jsonRoundTrip(t, s.InternalData)
	out.IssueTime = time.Now()
	return &out
}

// revoke sends the lease manager's revocation of a creds response.
func (h *harness) revoke(resp *logical.Response) error {
	h.t.Helper()
	_, err := h.fw.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation, Path: "creds/x", Secret: leased(h.t, resp.Secret), Storage: h.b.storage,
	})
	return err
}

// renew sends the lease manager's renewal of a creds response.
func (h *harness) renew(resp *logical.Response, increment time.Duration) (*logical.Response, error) {
	h.t.Helper()
	s := leased(h.t, resp.Secret)
	s.Increment = increment
	return h.fw.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RenewOperation, Path: "creds/x", Secret: s, Storage: h.b.storage,
	})
}

func str(resp *logical.Response, key string) string {
	s, _ := resp.Data[key].(string)
	return s
}

// wantKind fails t unless err is a logical error of kind whose message
// contains every one of want.
func wantKind(t testing.TB, err, kind error, want ...string) {
	t.Helper()
	if err == nil || !errors.Is(err, kind) {
		t.Fatalf("error = %v, want %v", err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not mention %q", err, w)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonString(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func jsonUnmarshal(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec.Decode(v)
}
