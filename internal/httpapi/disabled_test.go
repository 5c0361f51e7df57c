package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestDisabledPaths: a listener's disabled paths answer 405 to every
// method, with or without a token, however spelt, and never reach the
// core; other paths are untouched.
func TestDisabledPaths(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		method, url string
		token       string
		want        int
	}{
		"GET":             {"GET", "/v1/sys/rekey/init", "", 405},
		"PUT with token":  {"PUT", "/v1/sys/rekey/init", "root", 405},
		"DELETE":          {"DELETE", "/v1/sys/rekey/init", "", 405},
		"trailing slash":  {"GET", "/v1/sys/rekey/init/", "", 405},
		"dot segment":     {"GET", "/v1/sys/./rekey/init", "", 405},
		"encoded slash":   {"GET", "/v1/sys%2Frekey%2Finit", "", 405},
		"other rekey":     {"PUT", "/v1/sys/rekey/update", "", 200},
		"unrelated path":  {"GET", "/v1/sys/seal-status", "", 200},
		"prefix only":     {"GET", "/v1/sys/rekey/init-not", "", 200},
		"decode-token ok": {"PUT", "/v1/sys/decode-token", "", 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{resp: &logical.Response{Raw: map[string]any{"ok": true}}}
			h := New(rec, Options{DisabledPaths: []string{"sys/rekey/init"}})
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(`{}`))
			if tc.token != "" {
				req.Header.Set("X-Vault-Token", tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusMethodNotAllowed && rec.got != nil {
				t.Fatal("a disabled path reached the core")
			}
		})
	}
}
