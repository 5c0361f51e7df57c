package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRequests checks that each command sends what Vault's CLI sends, in
// the same order (see /work/shared/COMPAT.md).
func TestRequests(t *testing.T) {
	t.Parallel()
	routes := map[string]fakeReply{
		"GET /v1/sys/internal/ui/mounts/secret/myapp/db": {body: kvV2Mount},
		"GET /v1/sys/internal/ui/mounts/secret":          {body: kvV2Mount},
		"GET /v1/sys/internal/ui/mounts/kv1/app":         {body: `{"data":{"path":"kv1/","type":"kv","options":{"version":"1"}}}`},
		"PUT /v1/secret/data/myapp/db":                   {body: `{"data":{"version":1}}`},
		"PATCH /v1/secret/data/myapp/db":                 {body: `{"data":{"version":2}}`},
		"GET /v1/secret/data/myapp/db":                   {body: `{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`},
		"GET /v1/secret/metadata":                        {body: `{"data":{"keys":["myapp/"]}}`},
		"DELETE /v1/secret/data/myapp/db":                {status: 204},
		"PUT /v1/secret/undelete/myapp/db":               {status: 204},
		"PUT /v1/secret/destroy/myapp/db":                {status: 204},
		"PUT /v1/secret/delete/myapp/db":                 {status: 204},
		"PUT /v1/kv1/app":                                {status: 204},
		"POST /v1/sys/mounts/secret":                     {status: 204},
		"POST /v1/sys/mounts/database":                   {status: 204},
		"POST /v1/sys/auth/kubernetes":                   {status: 204},
		"PUT /v1/sys/policies/acl/P":                     {status: 204},
		"POST /v1/auth/token/create":                     {body: `{"auth":{"client_token":"s.new","accessor":"acc"}}`},
		"GET /v1/sys/seal-status":                        {body: `{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1}`},
		"GET /v1/sys/leader":                             {body: `{"ha_enabled":false}`},
		"PUT /v1/auth/kubernetes/role/R":                 {status: 204},
		"POST /v1/sys/remount":                           {body: `{"data":{"migration_id":"m1"}}`},
		"GET /v1/sys/remount/status/m1":                  {body: `{"data":{"migration_id":"m1","migration_info":{"status":"success"}}}`},
	}
	tests := map[string]struct {
		args  []string
		stdin string
		want  []string
		body  string // JSON of the last request, if checked
	}{
		"kv put":         {args: []string{"kv", "put", "secret/myapp/db", "k=v"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PUT /v1/secret/data/myapp/db"}, body: `{"data":{"k":"v"}}`},
		"kv put cas":     {args: []string{"kv", "put", "-cas=0", "secret/myapp/db", "k=v"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PUT /v1/secret/data/myapp/db"}, body: `{"data":{"k":"v"},"options":{"cas":0}}`},
		"kv put -mount":  {args: []string{"kv", "put", "-mount=secret", "myapp/db", "k=v"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret", "PUT /v1/secret/data/myapp/db"}},
		"kv get":         {args: []string{"kv", "get", "secret/myapp/db"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "GET /v1/secret/data/myapp/db"}},
		"kv get version": {args: []string{"kv", "get", "-version=3", "secret/myapp/db"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "GET /v1/secret/data/myapp/db?version=3"}},
		"kv patch":       {args: []string{"kv", "patch", "secret/myapp/db", "k=w"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PATCH /v1/secret/data/myapp/db"}, body: `{"data":{"k":"w"}}`},
		"kv list":        {args: []string{"kv", "list", "secret/"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret", "GET /v1/secret/metadata?list=true"}},
		"kv delete":      {args: []string{"kv", "delete", "secret/myapp/db"}, want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "DELETE /v1/secret/data/myapp/db"}},
		"kv delete versions": {args: []string{"kv", "delete", "-versions=2,1", "secret/myapp/db"},
			want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PUT /v1/secret/delete/myapp/db"}, body: `{"versions":[1,2]}`},
		"kv undelete": {args: []string{"kv", "undelete", "-versions=1", "secret/myapp/db"},
			want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PUT /v1/secret/undelete/myapp/db"}, body: `{"versions":[1]}`},
		"kv destroy": {args: []string{"kv", "destroy", "-versions=1", "secret/myapp/db"},
			want: []string{"GET /v1/sys/internal/ui/mounts/secret/myapp/db", "PUT /v1/secret/destroy/myapp/db"}, body: `{"versions":[1]}`},
		"kv v1 put": {args: []string{"kv", "put", "kv1/app", "a=b"}, want: []string{"GET /v1/sys/internal/ui/mounts/kv1/app", "PUT /v1/kv1/app"}, body: `{"a":"b"}`},
		"policy write stdin": {args: []string{"policy", "write", "P", "-"}, stdin: `path "x" {}`,
			want: []string{"PUT /v1/sys/policies/acl/P"}, body: `{"policy":"path \"x\" {}"}`},
		"secrets enable kv-v2": {args: []string{"secrets", "enable", "-path=secret", "kv-v2"}, want: []string{"POST /v1/sys/mounts/secret"}},
		"secrets enable":       {args: []string{"secrets", "enable", "database"}, want: []string{"POST /v1/sys/mounts/database"}},
		"auth enable":          {args: []string{"auth", "enable", "kubernetes"}, want: []string{"POST /v1/sys/auth/kubernetes"}},
		"secrets move":         {args: []string{"secrets", "move", "a", "b/"}, want: []string{"POST /v1/sys/remount", "GET /v1/sys/remount/status/m1"}},
		"auth move":            {args: []string{"auth", "move", "a", "auth/b"}, want: []string{"POST /v1/sys/remount", "GET /v1/sys/remount/status/m1"}},
		"token create":         {args: []string{"token", "create", "-policy=a", "-policy=b", "-metadata=team=x,y"}, want: []string{"POST /v1/auth/token/create"}},
		"status":               {args: []string{"status"}, want: []string{"GET /v1/sys/seal-status", "GET /v1/sys/leader"}},
		"write":                {args: []string{"write", "auth/kubernetes/role/R", "a=1", "a=2"}, want: []string{"PUT /v1/auth/kubernetes/role/R"}, body: `{"a":["1","2"]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, routes)
			_, stderr, code := runCLI(t, fakeEnv(t, f), tc.stdin, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if got := f.requests(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("requests:\n got %q\nwant %q", got, tc.want)
			}
			if tc.body != "" {
				assertJSON(t, f.last().body, tc.body)
			}
		})
	}
}

func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

// TestRequestDetails checks bodies and headers whose exact form clients
// depend on.
func TestRequestDetails(t *testing.T) {
	t.Parallel()
	routes := map[string]fakeReply{
		"GET /v1/sys/internal/ui/mounts/secret/a": {body: kvV2Mount},
		"PATCH /v1/secret/data/a":                 {body: `{"data":{"version":2}}`},
		"POST /v1/sys/mounts/secret":              {status: 204},
		"POST /v1/auth/token/create":              {body: `{"auth":{"client_token":"s.new"}}`},
	}
	f := newFakeServer(t, routes)
	vars := fakeEnv(t, f)
	if _, stderr, code := runCLI(t, vars, "", "kv", "patch", "secret/a", "k=v"); code != 0 {
		t.Fatal(stderr)
	}
	if ct := f.last().contentType; ct != "application/merge-patch+json" {
		t.Errorf("patch Content-Type = %q", ct)
	}
	if _, stderr, code := runCLI(t, vars, "", "secrets", "enable", "-path=secret", "-description=d", "kv-v2"); code != 0 {
		t.Fatal(stderr)
	}
	var mount struct {
		Type        string            `json:"type"`
		Description string            `json:"description"`
		Options     map[string]string `json:"options"`
	}
	if err := json.Unmarshal([]byte(f.last().body), &mount); err != nil {
		t.Fatal(err)
	}
	if mount.Type != "kv" || mount.Options["version"] != "2" || mount.Description != "d" {
		t.Errorf("kv-v2 mount body = %+v", mount)
	}
	if _, stderr, code := runCLI(t, vars, "", "token", "create", "-policy=a", "-policy=b", "-metadata=team=x,y", "-ttl=1h", "-orphan"); code != 0 {
		t.Fatal(stderr)
	}
	var tc map[string]any
	json.Unmarshal([]byte(f.last().body), &tc)
	if !reflect.DeepEqual(tc["policies"], []any{"a", "b"}) || !reflect.DeepEqual(tc["meta"], map[string]any{"team": "x,y"}) ||
		tc["ttl"] != "1h" || tc["no_parent"] != true {
		t.Errorf("token create body = %v", tc)
	}
}

// TestEnvironment checks where the address and token come from: the
// COFFER_* variable, then VAULT_*, then the login file; BAO_* never.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	routes := map[string]fakeReply{"GET /v1/sys/policies/acl": {body: `{"data":{"keys":["default"]}}`}}
	tests := map[string]struct {
		vars      map[string]string
		tokenFile string
		wantToken string
	}{
		"coffer wins":     {vars: map[string]string{"COFFER_TOKEN": "s.coffer", "VAULT_TOKEN": "s.vault", "BAO_TOKEN": "s.bao"}, wantToken: "s.coffer"},
		"vault fallback":  {vars: map[string]string{"VAULT_TOKEN": "s.vault", "BAO_TOKEN": "s.bao"}, tokenFile: "s.file", wantToken: "s.vault"},
		"token file":      {vars: map[string]string{"BAO_TOKEN": "s.bao"}, tokenFile: "s.file\n", wantToken: "s.file"},
		"no token at all": {vars: map[string]string{"BAO_TOKEN": "s.bao"}, wantToken: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, routes)
			vars := map[string]string{"COFFER_ADDR": f.srv.URL, "VAULT_ADDR": "http://127.0.0.1:1", "BAO_ADDR": "http://127.0.0.1:1",
				"COFFER_MAX_RETRIES": "0", "XDG_CONFIG_HOME": t.TempDir()}
			for k, v := range tc.vars {
				vars[k] = v
			}
			if tc.tokenFile != "" {
				dir := filepath.Join(vars["XDG_CONFIG_HOME"], "coffer")
				os.MkdirAll(dir, 0o700)
				os.WriteFile(filepath.Join(dir, "token"), []byte(tc.tokenFile), 0o600)
			}
			if _, stderr, code := runCLI(t, vars, "", "policy", "list"); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := f.last().token; got != tc.wantToken {
				t.Errorf("token sent = %q, want %q", got, tc.wantToken)
			}
		})
	}
}

// TestVaultAddrFallback checks VAULT_ADDR is used when COFFER_ADDR is not
// set, and that -address beats both.
func TestVaultAddrFallback(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, map[string]fakeReply{"GET /v1/sys/policies/acl": {body: `{"data":{"keys":["default"]}}`}})
	vars := map[string]string{"VAULT_ADDR": f.srv.URL, "COFFER_MAX_RETRIES": "0", "XDG_CONFIG_HOME": t.TempDir()}
	if out, stderr, code := runCLI(t, vars, "", "policy", "list"); code != 0 || out != "default\n" {
		t.Fatalf("VAULT_ADDR: exit %d, out %q, err %s", code, out, stderr)
	}
	vars = map[string]string{"COFFER_ADDR": "http://127.0.0.1:1", "COFFER_MAX_RETRIES": "0", "XDG_CONFIG_HOME": t.TempDir()}
	if _, stderr, code := runCLI(t, vars, "", "policy", "list", "-address="+f.srv.URL); code != 0 {
		t.Fatalf("-address: exit %d, err %s", code, stderr)
	}
}

// TestErrors checks messages and exit codes: 2 for the server's errors and
// for nothing found, 1 for usage; secrets never appear in messages.
func TestErrors(t *testing.T) {
	t.Parallel()
	routes := map[string]fakeReply{
		"GET /v1/sys/internal/ui/mounts/secret/x": {body: kvV2Mount},
		"PUT /v1/secret/data/x":                   {status: 403, body: `{"errors":["permission denied"]}`},
		"GET /v1/secret/data/x":                   {status: 404, body: `{"errors":[]}`},
	}
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		"denied write":    {[]string{"kv", "put", "secret/x", "password=hunter2"}, 2, "Error writing data to secret/data/x: Code: 403. Errors:\n\n* permission denied\n"},
		"not found":       {[]string{"kv", "get", "secret/x"}, 2, "No value found at secret/data/x\n"},
		"generic missing": {[]string{"read", "secret/data/x"}, 2, "No value found at secret/data/x\n"},
		"not key=value":   {[]string{"kv", "put", "secret/x", "hunter2"}, 1, "Error parsing arguments: argument 1: argument is not in key=value form\n"},
		"bad flag":        {[]string{"kv", "get", "-nope", "secret/x"}, 1, "flag provided but not defined: -nope"},
		"missing args":    {[]string{"kv", "get"}, 1, "Incorrect number of arguments"},
		"bad format":      {[]string{"kv", "get", "-format=xml", "secret/x"}, 1, `Invalid output format "xml"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, routes)
			_, stderr, code := runCLI(t, fakeEnv(t, f), "", tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("stderr leaks the secret: %q", stderr)
			}
		})
	}
}

// TestLoginStoresToken checks that login verifies the token, stores it
// owner-only, and never prints it.
func TestLoginStoresToken(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, map[string]fakeReply{
		"GET /v1/auth/token/lookup-self": {body: `{"data":{"id":"s.login","accessor":"acc1","policies":["default"],"ttl":0}}`},
	})
	vars := map[string]string{"COFFER_ADDR": f.srv.URL, "COFFER_MAX_RETRIES": "0", "XDG_CONFIG_HOME": t.TempDir()}
	out, stderr, code := runCLI(t, vars, "s.login\n", "login", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if f.last().token != "s.login" {
		t.Errorf("lookup-self sent token %q", f.last().token)
	}
	if strings.Contains(out, "s.login") || !strings.Contains(out, "acc1") {
		t.Errorf("output should show the accessor but not the token:\n%s", out)
	}
	file := filepath.Join(vars["XDG_CONFIG_HOME"], "coffer", "token")
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "s.login" {
		t.Fatalf("token file = %q, %v", b, err)
	}
	for p, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// TestSecretsFromStdin checks that an unseal key and a login token can be
// piped in when there is no terminal to prompt on, and are sent as given.
func TestSecretsFromStdin(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, map[string]fakeReply{
		"PUT /v1/sys/unseal":             {body: `{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1}`},
		"GET /v1/auth/token/lookup-self": {body: `{"data":{"accessor":"a","policies":["default"]}}`},
	})
	vars := fakeEnv(t, f)
	if _, stderr, code := runCLI(t, vars, "0a0b0c\n", "operator", "unseal"); code != 0 {
		t.Fatalf("unseal: exit %d: %s", code, stderr)
	}
	assertJSON(t, f.last().body, `{"key":"0a0b0c"}`)
	delete(vars, "COFFER_TOKEN")
	if _, stderr, code := runCLI(t, vars, "s.piped\n", "login", "-no-store"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, stderr)
	}
	if got := f.last().token; got != "s.piped" {
		t.Errorf("login sent %q", got)
	}
	if _, err := os.Stat(filepath.Join(vars["XDG_CONFIG_HOME"], "coffer", "token")); !os.IsNotExist(err) {
		t.Errorf("-no-store wrote the token file: %v", err)
	}
}
