package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/httpapi"
)

// FuzzUserInput sends arbitrary JSON bodies, as root, to the write endpoints
// of every part of the server. A user's mistake must be a 4xx with a
// message, never a 500 or a panic.
func FuzzUserInput(f *testing.F) {
	s := start(f)
	h := httpapi.New(s.core, httpapi.Options{})
	paths := []string{
		"secret/data/app", "secret/metadata/app", "secret/delete/app", "secret/undelete/app",
		"secret/destroy/app", "secret/config", "sys/mounts/fz", "sys/mounts/secret/tune",
		"sys/policies/acl/fz", "sys/capabilities-self", "auth/token/create", "auth/token/lookup",
		"auth/token/renew-self", "sys/quotas/rate-limit/fz", "sys/auth/fz", "sys/unseal", "sys/init",
	}
	for i := range paths {
		for _, b := range []string{`{}`, `{"data":{"a":"b"}}`, `{"versions":[1,"x",-1]}`, `{"type":"kv","options":{"version":"9"}}`,
			`{"policy":"path \"x\" {"}`, `{"ttl":"-1h","policies":[1,{}]}`, `{"max_versions":-5,"cas_required":"maybe"}`,
			`{"data":null,"options":{"cas":"x"}}`, `{"rate":"fast","path":"nowhere/"}`, `{"default_lease_ttl":"1y"}`, `{"key":"zz"}`} {
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		for _, method := range []string{http.MethodPost, http.MethodPatch} {
			req := httptest.NewRequest(method, "/v1/"+path, strings.NewReader(body))
			req.Header.Set("X-Vault-Token", s.root)
			req.Header.Set("Content-Type", "application/merge-patch+json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
			}
		}
	})
}
