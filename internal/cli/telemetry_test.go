package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// lockedBuffer is the server's stderr, read while the server writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// telemetryServer runs `coffer server -config` in-process with two
// listeners: protected (sys/metrics needs a token) and open
// (unauthenticated_metrics_access), and returns their addresses, the
// server's log and a root client of the initialised, unsealed server.
func telemetryServer(t *testing.T) (protected, open string, logs *lockedBuffer, root *api.Client) {
	t.Helper()
	p1, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`storage "inmem" {}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
  telemetry {
    unauthenticated_metrics_access = true
  }
}
telemetry {
  disable_hostname   = true
  usage_gauge_period = "1s"
}
`, p1, p2)
	path := filepath.Join(t.TempDir(), "server.hcl")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: logs, getenv: func(string) string { return "" }}
	go func() { done <- newApp(e).RunContext(ctx, []string{"coffer", "server", "-config=" + path}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	protected, open = fmt.Sprintf("http://127.0.0.1:%d", p1), fmt.Sprintf("http://127.0.0.1:%d", p2)
	root = apiClient(t, protected, "")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := root.Sys().SealStatus(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	init, err := root.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	root.SetToken(init.RootToken)
	return protected, open, logs, root
}

func apiClient(t *testing.T, addr, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// scrape GETs sys/metrics with the query and token given and returns the
// status and body.
func scrape(t *testing.T, addr, query, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, addr+"/v1/sys/metrics"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// sample returns the value of the series of family name whose labels
// include want (a histogram's sample count), and whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestTelemetryMetricsScrape(t *testing.T) {
	protected, open, _, root := telemetryServer(t)
	const (
		secretValue = "zx-telemetry-secret-5b1f9e"
		user        = "carol-telemetry-user"
		password    = "pw-telemetry-77a1"
		kvPath      = "app-telemetry-path"
	)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, root.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	must(nil, root.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}))
	must(root.Logical().Write("auth/userpass/users/"+user, map[string]any{"password": password, "policies": "metrics"}))
	must(nil, root.Sys().PutPolicy("metrics", `path "sys/metrics" { capabilities = ["read"] }`))
	must(root.KVv2("secret").Put(context.Background(), kvPath, map[string]any{"value": secretValue}))
	for range 5 {
		must(root.KVv2("secret").Get(context.Background(), kvPath))
	}
	// A file device records; a socket device whose receiver is gone fails
	// every line, which the metrics count by device type.
	must(nil, root.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{
		Type: "file", Options: map[string]string{"file_path": filepath.Join(t.TempDir(), "audit.log")},
	}))
	must(nil, root.Sys().EnableAuditWithOptions("gone", &api.EnableAuditOptions{
		Type: "socket", Options: map[string]string{"socket_type": "unix", "address": filepath.Join(t.TempDir(), "no-receiver.sock")},
	}))
	must(root.KVv2("secret").Get(context.Background(), kvPath))
	login := apiClient(t, protected, "")
	sec, err := login.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": password})
	if err != nil {
		t.Fatal(err)
	}
	userToken := sec.Auth.ClientToken
	for _, bad := range []string{"wrong-password", "another-wrong"} {
		if _, err := login.Logical().Write("auth/userpass/login/"+user, map[string]any{"password": bad}); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}

	t.Run("protected listener needs a token with sys/metrics", func(t *testing.T) {
		if code, body := scrape(t, protected, "?format=prometheus", ""); code != http.StatusForbidden {
			t.Errorf("no token: %d %s", code, body)
		}
		noPolicy, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := scrape(t, protected, "?format=prometheus", noPolicy.Auth.ClientToken); code != http.StatusForbidden {
			t.Errorf("token without the policy: %d, want 403", code)
		}
		if code, body := scrape(t, protected, "?format=prometheus", userToken); code != http.StatusOK || !strings.Contains(body, "coffer_core_unsealed") {
			t.Errorf("token with read on sys/metrics: %d %.200s", code, body)
		}
	})

	t.Run("open listener serves without a token", func(t *testing.T) {
		if code, body := scrape(t, open, "?format=prometheus", ""); code != http.StatusOK || !strings.Contains(body, "coffer_core_unsealed") {
			t.Errorf("%d %.200s", code, body)
		}
	})

	t.Run("json and bad formats", func(t *testing.T) {
		code, body := scrape(t, protected, "", root.Token())
		if code != http.StatusOK || !strings.Contains(body, `"Gauges"`) || !strings.Contains(body, `"coffer_core_unsealed"`) {
			t.Errorf("json: %d %.300s", code, body)
		}
		for _, addr := range []string{protected, open} {
			code, body := scrape(t, addr, "?format=bogus", root.Token())
			if code != http.StatusBadRequest || !strings.Contains(body, "format=prometheus") {
				t.Errorf("%s bogus format: %d %s", addr, code, body)
			}
		}
	})

	var (
		text string
		fams map[string]*dto.MetricFamily
	)
	// Root, the user's login and the default-policy token above. The token
	// gauge is refreshed every usage_gauge_period (1s here): wait for it.
	const tokens = 3
	for deadline := time.Now().Add(20 * time.Second); ; {
		var code int
		code, text = scrape(t, protected, "?format=prometheus", root.Token())
		if code != http.StatusOK {
			t.Fatalf("scrape: %d %s", code, text)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		if fams, err = parser.TextToMetricFamilies(strings.NewReader(text)); err != nil {
			t.Fatalf("parse: %v", err)
		}
		if n, _ := sample(fams, "coffer_token_count", nil); n >= tokens || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checks := map[string]struct {
		name   string
		labels map[string]string
		min    float64
	}{
		"kv reads":           {"coffer_core_handle_request_duration_seconds", map[string]string{"mount_type": "kv", "operation": "read"}, 5},
		"kv writes":          {"coffer_core_handle_request_duration_seconds", map[string]string{"mount_type": "kv", "operation": "create"}, 1},
		"200s":               {"coffer_core_response_status_code_total", map[string]string{"code": "200"}, 5},
		"logins":             {"coffer_auth_login_total", map[string]string{"auth_method": "userpass"}, 3},
		"failed logins":      {"coffer_auth_login_failures_total", map[string]string{"auth_method": "userpass"}, 2},
		"tokens created":     {"coffer_token_creation_total", map[string]string{"auth_method": "userpass", "token_type": "service"}, 1},
		"tokens outstanding": {"coffer_token_count", nil, tokens},
		"unsealed":           {"coffer_core_unsealed", nil, 1},
		"barrier gets":       {"coffer_barrier_duration_seconds", map[string]string{"op": "get"}, 1},
		"storage puts":       {"coffer_storage_duration_seconds", map[string]string{"backend": "inmem", "op": "put"}, 1},
		"leases":             {"coffer_expire_num_leases", nil, 0},
		"lease failures":     {"coffer_expire_revocation_failures", nil, 0},
		"audit failures":     {"coffer_audit_log_failures_total", map[string]string{"device_type": "socket"}, 2},
		"file device fine":   {"coffer_audit_log_failures_total", map[string]string{"device_type": "file"}, 0},
		"tokens revoked":     {"coffer_token_revoked_total", nil, 0},
	}
	for name, c := range checks {
		v, ok := sample(fams, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s: %s%v = %v (present %v), want at least %v", name, c.name, c.labels, v, ok, c.min)
		}
	}
	if v, _ := sample(fams, "coffer_auth_login_failures_total", map[string]string{"auth_method": "userpass"}); v > 2 {
		t.Errorf("failed logins = %v, want 2", v)
	}
	for _, secret := range []string{secretValue, root.Token(), userToken, user, password, kvPath} {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics hold %q", secret)
		}
	}
	if _, ok := sample(fams, "coffer_core_unsealed", map[string]string{"host": ""}); !ok {
		t.Error("coffer_core_unsealed missing")
	}
	if strings.Contains(text, `host="`) {
		t.Error("disable_hostname = true, yet series carry a host label")
	}
}

func TestTelemetryLoggers(t *testing.T) {
	_, _, logs, root := telemetryServer(t)
	if err := root.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.KVv2("secret").Put(context.Background(), "a", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	levels, err := root.Logical().Read("sys/loggers")
	if err != nil {
		t.Fatal(err)
	}
	if levels.Data["core"] != "info" || levels.Data["token"] != "info" {
		t.Fatalf("GET sys/loggers = %v, want core and token at info", levels.Data)
	}
	if strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatal("a debug line at level info")
	}
	if _, err := root.Logical().Write("sys/loggers", map[string]any{"level": "debug"}); err != nil {
		t.Fatal(err)
	}
	read, err := root.Logical().Read("secret/data/a")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`level=DEBUG msg="request handled".*request_id=` + regexp.QuoteMeta(read.RequestID))
	if !line.MatchString(logs.String()) {
		t.Errorf("no debug line with request_id=%s after setting debug:\n%s", read.RequestID, logs)
	}
	if l, err := root.Logical().Read("sys/loggers/core"); err != nil || l.Data["core"] != "debug" {
		t.Errorf("GET sys/loggers/core = %v, %v", l, err)
	}
	bad := map[string]map[string]any{
		"sys/loggers/no-such-logger": {"level": "debug"},
		"sys/loggers":                {"level": "loud"},
	}
	for path, body := range bad {
		if _, err := root.Logical().Write(path, body); err == nil || !strings.Contains(err.Error(), "Code: 400") {
			t.Errorf("POST %s %v: %v, want a 400", path, body, err)
		}
	}
	if _, err := root.Logical().Delete("sys/loggers"); err != nil {
		t.Fatal(err)
	}
	before := len(logs.String())
	if _, err := root.Logical().Read("secret/data/a"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String()[before:], "level=DEBUG") {
		t.Error("debug lines after DELETE sys/loggers reverted to info")
	}
	// Per logger: only the named one changes.
	if _, err := root.Logical().Write("sys/loggers/token", map[string]any{"level": "error"}); err != nil {
		t.Fatal(err)
	}
	l, err := root.Logical().Read("sys/loggers")
	if err != nil || l.Data["token"] != "error" || l.Data["core"] != "info" {
		t.Errorf("after POST sys/loggers/token: %v, %v", l, err)
	}
	// A token without a policy on sys/loggers cannot change levels.
	tok, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	other := apiClient(t, root.Address(), tok.Auth.ClientToken)
	if _, err := other.Logical().Write("sys/loggers", map[string]any{"level": "trace"}); err == nil || !strings.Contains(err.Error(), "Code: 403") {
		t.Errorf("default policy changed the log level: %v", err)
	}
}
