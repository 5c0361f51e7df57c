package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// auditLine is what these tests read of an audit line.
type auditLine struct {
	Type    string `json:"type"`
	Request struct {
		Path    string              `json:"path"`
		Data    map[string]any      `json:"data"`
		Headers map[string][]string `json:"headers"`
	} `json:"request"`
	Response struct {
		Data map[string]any `json:"data"`
	} `json:"response"`
}

// auditLines returns the lines of the file device's log about path.
func auditLines(t *testing.T, file, path string) []auditLine {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e auditLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %v: %s", err, l)
		}
		if e.Request.Path == path {
			out = append(out, e)
		}
	}
	return out
}

func enableFileAudit(t *testing.T, s *server) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "audit.log")
	if err := s.client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestAuditNonHMACKeys tunes a KV mount's audit_non_hmac_request_keys and
// …_response_keys through the OpenBao client: the listed keys' values are
// written in the clear, every other value still HMAC'd.
func TestAuditNonHMACKeys(t *testing.T) {
	t.Parallel()
	s := start(t)
	file := enableFileAudit(t, s)
	err := s.client.Sys().TuneMount("secret", api.MountConfigInput{
		AuditNonHMACRequestKeys: []string{"user"}, AuditNonHMACResponseKeys: []string{"user", "version"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tune, err := s.client.Sys().MountConfig("secret")
	if err != nil || strings.Join(tune.AuditNonHMACRequestKeys, ",") != "user" || len(tune.AuditNonHMACResponseKeys) != 2 {
		t.Fatalf("tune read: %+v %v", tune, err)
	}
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "opts", map[string]any{"user": "alice-in-clear", "password": auditSecret}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Get(ctx, "opts"); err != nil {
		t.Fatal(err)
	}
	hash := func(v string) string {
		h, err := s.client.Sys().AuditHash("file", v)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	lines := auditLines(t, file, "secret/data/opts")
	if len(lines) != 4 {
		t.Fatalf("%d lines about secret/data/opts, want a request and a response for the put and the get", len(lines))
	}
	put := lines[0].Request.Data["data"].(map[string]any)
	if put["user"] != "alice-in-clear" || put["password"] != hash(auditSecret) {
		t.Errorf("request data: %v", put)
	}
	got := lines[3].Response.Data["data"].(map[string]any)
	if got["user"] != "alice-in-clear" || got["password"] != hash(auditSecret) {
		t.Errorf("response data: %v", got)
	}
	// A listed key only frees the strings right under it: metadata's
	// created_time is still hashed.
	if meta := lines[3].Response.Data["metadata"].(map[string]any); !strings.HasPrefix(meta["created_time"].(string), "hmac-sha256:") {
		t.Errorf("metadata: %v", meta)
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), auditSecret) {
		t.Error("the secret value is in the log in the clear")
	}
}

// TestAuditRequestHeaders configures audited request headers through
// sys/config/auditing/request-headers (sudo) and finds them, HMAC'd when
// so configured, in request.headers of every line.
func TestAuditRequestHeaders(t *testing.T) {
	t.Parallel()
	s := start(t)
	file := enableFileAudit(t, s)
	const base = "sys/config/auditing/request-headers"
	for name, hmac := range map[string]bool{"X-Correlation-Id": false, "X-Tenant-Secret": true} {
		if _, err := s.client.Logical().Write(base+"/"+name, map[string]any{"hmac": hmac}); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	list, err := s.client.Logical().Read(base)
	if err != nil || list == nil {
		t.Fatalf("list: %v %v", list, err)
	}
	want := map[string]any{"x-correlation-id": map[string]any{"hmac": false}, "x-tenant-secret": map[string]any{"hmac": true}}
	if b, _ := json.Marshal(list.Data["headers"]); string(b) != mustJSON(want) {
		t.Errorf("list: %s", b)
	}
	one, err := s.client.Logical().Read(base + "/X-Tenant-Secret")
	if err != nil || one == nil || mustJSON(one.Data) != `{"X-Tenant-Secret":{"hmac":true}}` {
		t.Fatalf("read one: %v %v", one, err)
	}
	c, err := s.client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(s.root)
	c.AddHeader("X-Correlation-Id", "corr-42")
	c.AddHeader("X-Tenant-Secret", "tenant-pw-9c1e")
	c.AddHeader("X-Not-Audited", "quiet")
	if _, err := c.KVv2("secret").Put(context.Background(), "hdr", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	h, err := s.client.Sys().AuditHash("file", "tenant-pw-9c1e")
	if err != nil {
		t.Fatal(err)
	}
	lines := auditLines(t, file, "secret/data/hdr")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if got := mustJSON(l.Request.Headers); got != mustJSON(map[string][]string{"x-correlation-id": {"corr-42"}, "x-tenant-secret": {h}}) {
			t.Errorf("%s line headers: %s", l.Type, got)
		}
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), "tenant-pw-9c1e") || strings.Contains(string(b), "quiet") {
		t.Error("an HMAC'd or an unlisted header value is in the log in the clear")
	}

	// Removed, the header is no longer recorded; reading it is Vault's 400.
	if _, err := s.client.Logical().Delete(base + "/x-correlation-id"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Put(context.Background(), "hdr2", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if l := auditLines(t, file, "secret/data/hdr2"); len(l) != 2 || l[0].Request.Headers["x-correlation-id"] != nil {
		t.Errorf("after delete: %+v", l)
	}
	_, err = s.client.Logical().Read(base + "/X-Correlation-Id")
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		t.Errorf("read a removed header: %v", err)
	}
	// The token headers are never audited; a header name must be one.
	for _, bad := range []string{"Authorization", "X-Vault-Token", "bad:name", "(comment)"} {
		if _, err := s.client.Logical().Write(base+"/"+bad, map[string]any{"hmac": true}); !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
			t.Errorf("set %s: %v", bad, err)
		}
	}

	// Without sudo, even a policy granting the paths is refused.
	if err := s.client.Sys().PutPolicy("headers", `path "sys/config/auditing/*" { capabilities = ["create", "read", "update", "delete"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"headers"}})
	if err != nil {
		t.Fatal(err)
	}
	nosudo := s.as(t, tok.Auth.ClientToken)
	if _, err := nosudo.Logical().Read(base); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("list without sudo: %v", err)
	}
	if _, err := nosudo.Logical().Write(base+"/X-Other", map[string]any{"hmac": true}); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("set without sudo: %v", err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
