package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/httpapi"
)

const (
	deniedValue = "denied-value-5b1e0c"
	deniedName  = "denied-name-77ab3e"
)

// FuzzPathTraversal sends arbitrary raw request paths, with a token whose
// policy allows secret/data/open/* and explicitly denies secret/data/closed/*,
// through the whole HTTP stack, and fails if any of them reads the denied
// secret: no spelling of a path (double slashes, dot segments, percent
// encoding) may reach what the policy denies.
func FuzzPathTraversal(f *testing.F) {
	s := start(f)
	ctx := context.Background()
	if err := s.client.Sys().PutPolicy("open", `
path "secret/data/open/*" { capabilities = ["read", "list"] }
path "secret/data/closed/*" { capabilities = ["deny"] }
path "secret/+/open/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/closed/*" { capabilities = ["deny"] }
`); err != nil {
		f.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "closed/x", map[string]any{"v": deniedValue}); err != nil {
		f.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "closed/"+deniedName, map[string]any{"v": "x"}); err != nil {
		f.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "open/x", map[string]any{"v": "fine"}); err != nil {
		f.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"open"}})
	if err != nil {
		f.Fatal(err)
	}
	h := httpapi.New(s.core, httpapi.Options{})
	for _, seed := range []string{
		"/v1/secret/data/open/x", "/v1/secret/data/closed/x", "/v1/secret/data/open/../closed/x",
		"/v1/secret//data/closed/x", "/v1/secret/data/./closed/x", "/v1/secret%2Fdata%2Fclosed%2Fx",
		"/v1/secret/data/open/%2e%2e/closed/x", "/v1/secret/data/open/..%2Fclosed/x", "/v1//secret/data/closed/x",
		"/v1/secret/data/closed/x/", "/v1/secret/metadata/closed/x", "/v1/secret/data/open%2F..%2F..%2Fdata%2Fclosed%2Fx",
	} {
		f.Add(seed, false)
	}
	for _, seed := range []string{"/v1/secret/metadata/closed/", "/v1/secret/metadata/closed", "/v1/secret/metadata/open/../closed/",
		"/v1/secret/metadata//closed", "/v1/secret/metadata/./closed/", "/v1/secret/metadata/closed?list=true"} {
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, list bool) {
		if !strings.HasPrefix(raw, "/") || strings.ContainsAny(raw, " \r\n#") {
			return
		}
		method := http.MethodGet
		if list {
			method = "LIST"
		}
		req, err := http.NewRequest(method, "http://coffer.test"+raw, nil)
		if err != nil {
			return
		}
		req.Header.Set("X-Vault-Token", tok.Auth.ClientToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body, _ := io.ReadAll(w.Result().Body)
		if strings.Contains(string(body), deniedValue) || strings.Contains(string(body), deniedName) {
			t.Fatalf("%s %q reached the denied folder: %d %s", method, raw, w.Code, body)
		}
	})
}
