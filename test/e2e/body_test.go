package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// headersOnly sends a request's headers announcing a body of length
// bytes, sends none of it, and returns the status line of the answer: a
// server that answers has decided without reading the body.
func headersOnly(t *testing.T, base, method, path, token string, length int) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("%s /v1/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, u.Host, length)
	if token != "" {
		head += "X-Vault-Token: " + token + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	// Generous: the answer either comes at once or never (the server would
	// wait for the body).
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s %s: no answer without the body: %v", method, path, err)
	}
	return strings.TrimSpace(line)
}

// TestBodyNotReadWithoutValidToken: a write to an authenticated path with
// no token, or a token that does not exist, is answered 403 before its
// body is read; so is anything but the pre-auth paths while sealed (503).
// A valid token's body is read as before.
func TestBodyNotReadWithoutValidToken(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	const big = 16 << 20
	cases := map[string]struct {
		method, path, token string
		want                string
	}{
		"no token, KV write":         {method: "PUT", path: "secret/data/x", want: "403"},
		"no token, sys write":        {method: "POST", path: "sys/policies/acl/p", want: "403"},
		"no token, PATCH":            {method: "PATCH", path: "secret/data/x", want: "415"}, // the content type is checked first
		"unknown token":              {method: "PUT", path: "secret/data/x", token: "s.nosuchtoken", want: "403"},
		"no token, unmounted path":   {method: "PUT", path: "nowhere/x", want: "403"},
		"no token, token create":     {method: "PUT", path: "auth/token/create", want: "403"},
		"login over its cap":         {method: "PUT", path: "auth/userpass/login/alice", want: "413"},
		"pre-auth path over its cap": {method: "PUT", path: "sys/unseal", want: "413"},
		"valid token over max size":  {method: "PUT", path: "secret/data/x", token: s.root, want: "413"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			length := big
			if strings.Contains(name, "over max size") {
				length = 33 << 20
			}
			line := headersOnly(t, s.url, tc.method, tc.path, tc.token, length)
			if !strings.Contains(line, " "+tc.want+" ") {
				t.Fatalf("answer %q, want %s", line, tc.want)
			}
		})
	}
	sealed := startSealed(t, inmem.New())
	if line := headersOnly(t, sealed.url, "PUT", "secret/data/x", "s.any", big); !strings.Contains(line, " 503 ") {
		t.Fatalf("sealed: answer %q, want 503", line)
	}
	// A valid token's large body is read, decoded and served.
	payload := strings.Repeat("v", 8<<20)
	if _, err := s.client.KVv2("secret").Put(context.Background(), "large", map[string]any{"v": payload}); err != nil {
		t.Fatalf("an 8 MiB secret with a valid token: %v", err)
	}
}

// TestUnauthenticatedBodyCaps: logins and the pre-auth sys/ paths take
// bodies of up to 1 MiB (httpapi.DefaultMaxUnauthenticatedRequestSize),
// with or without a token; a larger one is a 413, and the same size with a
// valid token on an authenticated path is fine.
func TestUnauthenticatedBodyCaps(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "correct horse"}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 1<<20)
	put := func(path, token string, body map[string]any) (int, string) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/"+path, bytes.NewReader(raw))
		if token != "" {
			req.Header.Set("X-Vault-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	cases := map[string]struct {
		path, token string
		body        map[string]any
		want        int
	}{
		"login, small":               {path: "auth/userpass/login/alice", body: map[string]any{"password": "correct horse"}, want: 200},
		"login, over 1 MiB":          {path: "auth/userpass/login/alice", body: map[string]any{"password": "correct horse", "pad": pad}, want: 413},
		"login with token, over cap": {path: "auth/userpass/login/alice", token: s.root, body: map[string]any{"password": "correct horse", "pad": pad}, want: 413},
		"unseal, over 1 MiB":         {path: "sys/unseal", body: map[string]any{"key": pad}, want: 413},
		"init, over 1 MiB":           {path: "sys/init", body: map[string]any{"secret_shares": 1, "pgp_keys": []string{pad}}, want: 413},
		"token write, same size":     {path: "secret/data/padded", token: s.root, body: map[string]any{"data": map[string]any{"pad": pad}}, want: 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, msg := put(tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %.300s", code, tc.want, msg)
			}
			if code == 413 && !strings.Contains(msg, "request body too large") {
				t.Fatalf("413 without a reason: %s", msg)
			}
		})
	}
}

// TestQueryBooleans: every query-string boolean parses like Go's
// strconv.ParseBool, as in Vault: Python's requests sends list=True.
// Anything else is a 400 that names the parameter.
func TestQueryBooleans(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, p := range []string{"app/db", "app/cache"} {
		if _, err := s.client.KVv2("secret").Put(context.Background(), p, map[string]any{"a": "b"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/"+path, nil)
		req.Header.Set("X-Vault-Token", s.root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	listed := func(body map[string]any) bool {
		data, _ := body["data"].(map[string]any)
		keys, _ := data["keys"].([]any)
		return slices.Equal(keys, []any{"cache", "db"})
	}
	for _, v := range []string{"1", "t", "T", "TRUE", "true", "True"} {
		t.Run("list="+v, func(t *testing.T) {
			t.Parallel()
			if code, body := get("secret/metadata/app?list=" + v); code != 200 || !listed(body) {
				t.Fatalf("status %d, body %v", code, body)
			}
		})
	}
	for _, v := range []string{"0", "f", "F", "FALSE", "false", "False", ""} {
		t.Run("list="+v, func(t *testing.T) {
			t.Parallel()
			// Not a list: a read of the metadata of "app", which is a folder.
			if code, body := get("secret/metadata/app/db?list=" + v); code != 200 || body["data"].(map[string]any)["current_version"] == nil {
				t.Fatalf("status %d, body %v", code, body)
			}
		})
	}
	bad := map[string]string{
		"list=yes":            "secret/metadata/app?list=yes",
		"list=tRuE":           "secret/metadata/app?list=tRuE",
		"standbyok=maybe":     "sys/health?standbyok=maybe",
		"perfstandbyok=2":     "sys/health?perfstandbyok=2",
		"list=yes on sys":     "sys/policies/acl?list=yes",
		"list=yes on unknown": "nowhere/x?list=yes",
	}
	for name, path := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, body := get(path)
			errs, _ := body["errors"].([]any)
			param := strings.SplitN(name, "=", 2)[0]
			if code != 400 || len(errs) != 1 || !strings.Contains(errs[0].(string), param) {
				t.Fatalf("status %d, body %v: want a 400 naming %q", code, body, param)
			}
		})
	}
	for _, q := range []string{"standbyok=True", "standbyok=T", "perfstandbyok=TRUE", "standbyok=1&perfstandbyok=False"} {
		t.Run("health "+q, func(t *testing.T) {
			t.Parallel()
			if code, body := get("sys/health?" + q); code != 200 || body["initialized"] != true {
				t.Fatalf("status %d, body %v", code, body)
			}
		})
	}
}
