package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// rawResponse is one HTTP exchange seen byte for byte, for the details the
// API client hides (status codes it treats alike, fields it drops).
type rawResponse struct {
	status int
	body   map[string]any
}

// raw sends one request with the server's root token and decodes a JSON
// object body when there is one.
func (s *server) raw(t *testing.T, method, path string, body any) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+"/v1/"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", s.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := rawResponse{status: resp.StatusCode}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out.body); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, b, err)
		}
	}
	return out
}

// TestDisableUnmountedPath: teardown code disables mounts that may already
// be gone, so DELETE of a path where nothing is mounted is a 204, as in
// Vault; the built-in mounts still cannot be disabled.
func TestDisableUnmountedPath(t *testing.T) {
	t.Parallel()
	s := start(t)
	cases := map[string]struct {
		path   string
		status int
	}{
		"secrets engine never mounted": {"sys/mounts/never-mounted", http.StatusNoContent},
		"auth method never enabled":    {"sys/auth/never-enabled", http.StatusNoContent},
		"below a mounted engine":       {"sys/mounts/secret/deeper", http.StatusNoContent},
		"the sys mount":                {"sys/mounts/sys", http.StatusBadRequest},
		"the token auth method":        {"sys/auth/token", http.StatusBadRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := s.raw(t, http.MethodDelete, tc.path, nil); got.status != tc.status {
				t.Fatalf("DELETE %s = %d %v, want %d", tc.path, got.status, got.body, tc.status)
			}
		})
	}
	// Twice in a row through the client, as a teardown that runs again.
	if err := s.client.Sys().Mount("tmp", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.client.Sys().Unmount("tmp"); err != nil {
			t.Fatalf("unmount %d: %v", i+1, err)
		}
	}
	if m, err := s.client.Sys().ListMounts(); err != nil || m["secret/"] == nil || m["tmp/"] != nil {
		t.Fatalf("mounts after teardown: %v %v", m, err)
	}
}

// TestGenericIsKVv1: "generic" is Vault's old name for KV version 1; the
// mount keeps its type name and serves unversioned secrets.
func TestGenericIsKVv1(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("legacy", &api.MountInput{Type: "generic", Description: "old style"}); err != nil {
		t.Fatalf("mount generic: %v", err)
	}
	m, err := s.client.Sys().ListMounts()
	if err != nil || m["legacy/"] == nil || m["legacy/"].Type != "generic" {
		t.Fatalf("mounts: %v %v", m, err)
	}
	if _, err := s.client.Logical().Write("legacy/app/db", map[string]any{"password": "p1"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := s.client.Logical().Read("legacy/app/db")
	if err != nil || got == nil || got.Data["password"] != "p1" {
		t.Fatalf("read: %+v %v", got, err)
	}
	if l, err := s.client.Logical().List("legacy/app"); err != nil || l == nil || len(l.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	err = s.client.Sys().Mount("versioned", &api.MountInput{Type: "generic", Options: map[string]string{"version": "2"}})
	if statusOf(err) != http.StatusBadRequest {
		t.Fatalf("generic with a version: %v", err)
	}
}

// TestLegacyTopLevelFields: Vault's legacy sys/ reads (sys/policy,
// sys/mounts, sys/auth, ...) carry every data field at the top level of the
// body too, and older clients read them there; other responses do not.
func TestLegacyTopLevelFields(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().PutPolicy("reader", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		method, path string
		body         any
		topLevel     bool
		field        string
	}{
		"legacy policy list keys":     {"GET", "sys/policy", nil, true, "keys"},
		"legacy policy list policies": {"GET", "sys/policy", nil, true, "policies"},
		"legacy policy read":          {"GET", "sys/policy/reader", nil, true, "rules"},
		"mount table":                 {"GET", "sys/mounts", nil, true, "secret/"},
		"auth table":                  {"GET", "sys/auth", nil, true, "token/"},
		"one mount":                   {"GET", "sys/mounts/secret", nil, true, "type"},
		"mount tune":                  {"GET", "sys/mounts/secret/tune", nil, true, "max_lease_ttl"},
		"auth tune":                   {"GET", "sys/auth/token/tune", nil, true, "default_lease_ttl"},
		"capabilities-self":           {"POST", "sys/capabilities-self", map[string]any{"paths": []string{"secret/x"}}, true, "capabilities"},
		"key status":                  {"GET", "sys/key-status", nil, true, "term"},
		"policies/acl is not legacy":  {"GET", "sys/policies/acl", nil, false, "keys"},
		"engine data is not legacy":   {"GET", "secret/config", nil, false, "max_versions"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := s.raw(t, tc.method, tc.path, tc.body)
			data, _ := got.body["data"].(map[string]any)
			if got.status != http.StatusOK || data == nil || data[tc.field] == nil {
				t.Fatalf("%s %s = %d %v: want %q under data", tc.method, tc.path, got.status, got.body, tc.field)
			}
			top, ok := got.body[tc.field]
			if ok != tc.topLevel {
				t.Fatalf("%q at the top level = %v, want %v: %v", tc.field, ok, tc.topLevel, got.body)
			}
			if ok && !equalJSON(t, top, data[tc.field]) {
				t.Fatalf("top-level %q = %v, data has %v", tc.field, top, data[tc.field])
			}
			if got.body["request_id"] == nil || got.body["lease_id"] == nil {
				t.Fatalf("the envelope lost its own fields: %v", got.body)
			}
		})
	}
	if p, err := s.client.Sys().ListPolicies(); err != nil || len(p) < 3 {
		t.Fatalf("client policy list: %v %v", p, err)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestTuneReachesRunningKV: tuning a secrets engine's default_lease_ttl
// changes the lease_duration (refresh interval) of its KV v1 reads at once,
// without a restart or remount; a secret's own ttl field still wins.
func TestTuneReachesRunningKV(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("tuned", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if _, err := s.client.Logical().Write("tuned/app", map[string]any{"password": "p1"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := s.client.Logical().Write("tuned/own", map[string]any{"password": "p2", "ttl": "90s"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	leaseOf := func(path string) int {
		t.Helper()
		got, err := s.client.Logical().Read(path)
		if err != nil || got == nil {
			t.Fatalf("read %s: %+v %v", path, got, err)
		}
		return got.LeaseDuration
	}
	if d := leaseOf("tuned/app"); d != 768*3600 {
		t.Fatalf("lease_duration before tune = %d, want the system default 2764800", d)
	}
	if err := s.client.Sys().TuneMount("tuned", api.MountConfigInput{DefaultLeaseTTL: "1h"}); err != nil {
		t.Fatalf("tune: %v", err)
	}
	if d := leaseOf("tuned/app"); d != 3600 {
		t.Fatalf("lease_duration after tune = %d, want 3600", d)
	}
	if d := leaseOf("tuned/own"); d != 90 {
		t.Fatalf("a secret's own ttl = %d, want 90", d)
	}
}
