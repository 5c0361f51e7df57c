package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestConfigReadHidesReviewerJWT(t *testing.T) {
	h := newHarness(t)
	if r := h.mustDo(t, logical.ReadOperation, "config", nil); r != nil {
		t.Fatalf("read before write = %v, want nothing (404)", r.Data)
	}
	const reviewer = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXZpZXdlciJ9.c2lnbmF0dXJlLXNlY3JldA"
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": "10.0.0.1:6443", "token_reviewer_jwt": reviewer,
		"pem_keys": []any{h.iss.DefaultKey().PublicPEM()}, "issuer": "https://kubernetes.default.svc",
	})
	d := h.mustDo(t, logical.ReadOperation, "config", nil).Data
	for k, v := range d {
		if s, ok := v.(string); ok && s == reviewer {
			t.Fatalf("config read returns the reviewer JWT under %q", k)
		}
	}
	if _, ok := d["token_reviewer_jwt"]; ok {
		t.Fatal("config read has token_reviewer_jwt")
	}
	want := map[string]any{"kubernetes_host": "https://10.0.0.1:6443", "token_reviewer_jwt_set": true,
		"issuer": "https://kubernetes.default.svc", "disable_iss_validation": true, "disable_local_ca_jwt": false,
		"oidc_discovery_url": ""}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	if keys := d["pem_keys"].([]string); len(keys) != 1 {
		t.Errorf("pem_keys = %v", keys)
	}
}

func TestConfigRefusals(t *testing.T) {
	h := newHarness(t)
	cases := map[string]struct {
		data map[string]any
		want string
	}{
		"no host":         {map[string]any{}, "no host provided"},
		"bad host":        {map[string]any{"kubernetes_host": "ftp://x"}, "kubernetes_host must be a URL"},
		"bad CA":          {map[string]any{"kubernetes_host": "https://k", "kubernetes_ca_cert": "nope"}, "kubernetes_ca_cert holds no PEM"},
		"reviewer no JWT": {map[string]any{"kubernetes_host": "https://k", "token_reviewer_jwt": "secret-value"}, "token_reviewer_jwt is not a JWT"},
		"bad pem key":     {map[string]any{"kubernetes_host": "https://k", "pem_keys": "nope"}, "pem_keys[0]"},
		"pem and offline": {map[string]any{"kubernetes_host": "https://k", "oidc_discovery_url": h.iss.URL,
			"pem_keys": h.iss.DefaultKey().PublicPEM()}, "pem_keys cannot be used with oidc_discovery_url"},
		"discovery CA alone": {map[string]any{"kubernetes_host": "https://k", "oidc_discovery_ca_pem": h.iss.CAPEM},
			"'oidc_discovery_ca_pem' is set but 'oidc_discovery_url' is not"},
		"discovery unreachable": {map[string]any{"kubernetes_host": "https://k", "oidc_discovery_url": h.iss.URL},
			"error checking oidc_discovery_url"}, // the test issuer's CA is not trusted
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := h.do(logical.UpdateOperation, "config", c.data)
			wantUserError(t, err, logical.ErrInvalidRequest, c.want, "")
			if _, ok := c.data["token_reviewer_jwt"]; ok && err != nil && strings.Contains(err.Error(), "secret-value") {
				t.Fatal("the refusal quotes the reviewer token")
			}
		})
	}
	if r := h.mustDo(t, logical.ReadOperation, "config", nil); r != nil {
		t.Fatal("a refused config was stored")
	}
}

// TestConfigSurvivesRestart: a new backend on the same storage loads the
// stored config and logs in with it.
func TestConfigSurvivesRestart(t *testing.T) {
	h := offline(t)
	b2 := newBackend(&logical.BackendConfig{Storage: h.storage}, t.TempDir())
	h.b, h.fw = b2, b2.framework()
	tok := h.iss.Sign(t, h.saClaims("team-a", "app", "coffer"))
	if _, err := h.login("app", tok); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
}

// TestLocalFileRotation: the pod's own token is re-read when the kubelet
// replaces it, at most once per localRecheck.
func TestLocalFileRotation(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1000, 0)
	f := newLocalFile(dir, "token", func() time.Time { return now })
	if got := f.Read(); got != nil {
		t.Fatalf("missing file read as %q", got)
	}
	write := func(s string, mod time.Time) {
		p := filepath.Join(dir, "token")
		if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	write("first", time.Unix(1, 0))
	if got := string(f.Read()); got != "" {
		t.Fatalf("re-read within the recheck interval: %q", got)
	}
	now = now.Add(localRecheck)
	if got := string(f.Read()); got != "first" {
		t.Fatalf("read %q, want first", got)
	}
	write("second", time.Unix(2, 0))
	if got := string(f.Read()); got != "first" {
		t.Fatalf("re-read within the recheck interval: %q", got)
	}
	now = now.Add(localRecheck)
	if got := string(f.Read()); got != "second" {
		t.Fatalf("after rotation read %q, want second", got)
	}
}

// TestLocalCredentialsUsed: without token_reviewer_jwt and CA, the pod's
// own are used; disable_local_ca_jwt turns that off.
func TestLocalCredentialsUsed(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t)
	h.b.localToken = newLocalFile(dir, "token", time.Now)
	h.b.localCA = newLocalFile(dir, "ca.crt", time.Now)
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("a.b.c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(h.iss.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	// The issuer is trusted through the pod's CA only.
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{"kubernetes_host": h.iss.URL, "oidc_discovery_url": h.iss.URL})
	st, _ := h.b.loadState(t.Context())
	if got := st.api.bearer(); got != "a.b.c" {
		t.Fatalf("bearer = %q, want the local token", got)
	}
	_, err := h.do(logical.UpdateOperation, "config", map[string]any{"kubernetes_host": h.iss.URL,
		"oidc_discovery_url": h.iss.URL, "disable_local_ca_jwt": true})
	wantUserError(t, err, logical.ErrInvalidRequest, "error checking oidc_discovery_url", "")
}
