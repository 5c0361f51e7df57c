package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// recorder is a Handler that remembers the request and answers with a
// canned response: the unit under test is the translation, not the core.
type recorder struct {
	got  *logical.Request
	resp *logical.Response
	err  error
}

func (r *recorder) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	r.got = req
	return r.resp, r.err
}

func TestTranslation(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		method, url, body, ctype string
		header                   map[string]string
		resp                     *logical.Response
		err                      error
		wantStatus               int
		wantOp                   logical.Operation
		wantPath, wantToken      string
		wantBody                 string
	}{
		"read envelope": {method: "GET", url: "/v1/secret/data/x", header: map[string]string{"X-Vault-Token": "t1"},
			resp: logical.DataResponse(map[string]any{"a": "b"}), wantStatus: 200, wantOp: logical.ReadOperation,
			wantPath: "secret/data/x", wantToken: "t1", wantBody: `"data":{"a":"b"}`},
		"bearer":          {method: "GET", url: "/v1/x", header: map[string]string{"Authorization": "Bearer t2"}, wantToken: "t2", wantStatus: 404, wantOp: logical.ReadOperation, wantPath: "x", wantBody: `{"errors":[]}`},
		"list verb":       {method: "LIST", url: "/v1/secret/metadata/", wantStatus: 404, wantOp: logical.ListOperation, wantPath: "secret/metadata/"},
		"list query":      {method: "GET", url: "/v1/secret/metadata?list=true", wantStatus: 404, wantOp: logical.ListOperation, wantPath: "secret/metadata/"},
		"list adds slash": {method: "LIST", url: "/v1/secret/metadata/app", wantStatus: 404, wantOp: logical.ListOperation, wantPath: "secret/metadata/app/"},
		"list=True":       {method: "GET", url: "/v1/secret/metadata?list=True", wantStatus: 404, wantOp: logical.ListOperation, wantPath: "secret/metadata/"},
		"list=T on HEAD":  {method: "HEAD", url: "/v1/secret/metadata?list=T", wantStatus: 404, wantOp: logical.ListOperation, wantPath: "secret/metadata/"},
		"list=False":      {method: "GET", url: "/v1/secret/metadata?list=False", wantStatus: 404, wantOp: logical.ReadOperation, wantPath: "secret/metadata"},
		"list=yes":        {method: "GET", url: "/v1/secret/metadata?list=yes", wantStatus: 400, wantBody: `query parameter \"list\" must be a boolean`},
		"write 204":       {method: "PUT", url: "/v1/sys/policy/p", body: `{"policy":"x"}`, wantStatus: 204, wantOp: logical.UpdateOperation, wantPath: "sys/policy/p"},
		"double slash":    {method: "GET", url: "/v1/secret//data/./x", wantStatus: 404, wantOp: logical.ReadOperation, wantPath: "secret/data/x"},
		"encoded slash":   {method: "GET", url: "/v1/secret%2Fdata%2Fx", wantStatus: 404, wantOp: logical.ReadOperation, wantPath: "secret/data/x"},
		"dotdot":          {method: "GET", url: "/v1/secret/data/../../sys/x", wantStatus: 400, wantBody: `segments are not allowed`},
		"bad json":        {method: "POST", url: "/v1/x", body: `{"a":`, wantStatus: 400, wantBody: "failed to parse JSON input"},
		"json not obj":    {method: "POST", url: "/v1/x", body: `[1]`, wantStatus: 400, wantBody: "failed to parse JSON input"},
		"patch type":      {method: "PATCH", url: "/v1/x", body: `{}`, wantStatus: 415},
		"patch ok":        {method: "PATCH", url: "/v1/x", body: `{}`, ctype: "application/merge-patch+json", wantStatus: 204, wantOp: logical.PatchOperation, wantPath: "x"},
		"bad method":      {method: "TRACE", url: "/v1/x", wantStatus: 405},
		"denied":          {method: "GET", url: "/v1/x", err: logical.ErrPermissionDenied, wantStatus: 403, wantBody: `{"errors":["permission denied"]}`},
		"sealed":          {method: "GET", url: "/v1/x", err: logical.ErrSealed, wantStatus: 503},
		"cas":             {method: "GET", url: "/v1/x", err: logical.ErrCASMismatch, wantStatus: 400, wantBody: `{"errors":["check-and-set parameter did not match the current version"]}`},
		"user error":      {method: "GET", url: "/v1/x", err: logical.InvalidRequest("field %q is bad", "ttl"), wantStatus: 400, wantBody: `field \"ttl\" is bad`},
		"internal":        {method: "GET", url: "/v1/x", err: errors.New("disk says secret-value"), wantStatus: 500, wantBody: "internal error"},
		"upstream":        {method: "GET", url: "/v1/x", err: logical.CodedError(logical.ErrUpstream, "database %q is unavailable", "pg"), wantStatus: 502, wantBody: `database \"pg\" is unavailable`},
		"raw":             {method: "GET", url: "/v1/sys/health", resp: &logical.Response{Raw: map[string]bool{"sealed": true}, RawStatus: 503}, wantStatus: 503, wantBody: `{"sealed":true}`},
		"status override": {method: "GET", url: "/v1/x", resp: &logical.Response{Data: map[string]any{"data": nil}, Status: 404}, wantStatus: 404, wantBody: `"data":{"data":null}`},
		"not v1":          {method: "GET", url: "/v2/x", wantStatus: 404},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{resp: tc.resp, err: tc.err}
			h := New(rec, Options{})
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantBody != "" && !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Fatalf("body %s lacks %s", w.Body, tc.wantBody)
			}
			if strings.Contains(w.Body.String(), "secret-value") {
				t.Fatalf("internal error leaked: %s", w.Body)
			}
			if tc.wantOp != "" && (rec.got == nil || rec.got.Operation != tc.wantOp || rec.got.Path != tc.wantPath) {
				t.Fatalf("request %+v", rec.got)
			}
			if tc.wantToken != "" && rec.got.ClientToken != tc.wantToken {
				t.Fatalf("token %q", rec.got.ClientToken)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := New(&recorder{}, Options{MaxRequestSize: 10})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("PUT", "/v1/x", strings.NewReader(`{"a":"0123456789"}`)))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", w.Code)
	}
}

func TestAuthEnvelope(t *testing.T) {
	t.Parallel()
	rec := &recorder{resp: &logical.Response{Auth: &logical.Auth{ClientToken: "s.x", Policies: []string{"default"}, Renewable: true}}}
	w := httptest.NewRecorder()
	New(rec, Options{}).ServeHTTP(w, httptest.NewRequest("POST", "/v1/auth/token/create", nil))
	var env map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	auth, _ := env["auth"].(map[string]any)
	if env["data"] != nil || auth["client_token"] != "s.x" || auth["token_type"] == nil {
		t.Fatalf("envelope %s", w.Body)
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"secret/data/x", "secret//data/x", "./a/../b", "a/%2F/b", "/", "", "a/./b/", "\x00", "a/", "a//", "/a", "a/..", "..", "a/.b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := logical.CleanPath(p)
		// The slow path, which the fast one (a clean path kept as it is)
		// must agree with: a leading "./" is never clean.
		slow, serr := logical.CleanPath("./" + p)
		if (err == nil) != (serr == nil) || c != slow {
			t.Fatalf("%q cleaned to %q, %v; by the slow path %q, %v", p, c, err, slow, serr)
		}
		if err != nil {
			return
		}
		if strings.Contains(c, "//") || strings.HasPrefix(c, "/") {
			t.Fatalf("%q cleaned to %q", p, c)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(c, "/"), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q cleaned to %q", p, c)
			}
		}
		if again, err := logical.CleanPath(c); err != nil || again != c {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, c, again, err)
		}
	})
}

// FuzzRequestBody sends arbitrary bodies and methods through the HTTP layer:
// it must never panic, and whatever it cannot decode is a 4xx, never a 500.
func FuzzRequestBody(f *testing.F) {
	for _, s := range []string{`{"data":{"a":"b"}}`, `{"a":`, `[]`, `null`, `{"a":1e999}`, "\xff", `{"a":"b"} {"c":1}`, ``} {
		f.Add("PUT", s)
		f.Add("PATCH", s)
	}
	h := New(&recorder{}, Options{MaxRequestSize: 1 << 16})
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "PUT" && method != "POST" && method != "PATCH" {
			return
		}
		req := httptest.NewRequest(method, "/v1/secret/data/x", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/merge-patch+json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: status %d %s", method, body, w.Code, w.Body)
		}
	})
}

// FuzzListFlag sends arbitrary list= values: a value strconv.ParseBool
// reads as true lists, one it reads as false (or none) reads, anything
// else is a 400; never a 5xx.
func FuzzListFlag(f *testing.F) {
	for _, s := range []string{"true", "True", "T", "1", "0", "false", "FALSE", "", "yes", "tRuE", "%00", "1&list=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		rec := &recorder{}
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/secret/metadata", nil)
		req.URL.RawQuery = url.Values{"list": {v}}.Encode()
		New(rec, Options{}).ServeHTTP(w, req)
		b, err := strconv.ParseBool(v)
		switch {
		case w.Code >= 500:
			t.Fatalf("list=%q: status %d", v, w.Code)
		case v != "" && err != nil:
			if w.Code != http.StatusBadRequest || rec.got != nil {
				t.Fatalf("list=%q: status %d, request %+v", v, w.Code, rec.got)
			}
		case rec.got == nil || (rec.got.Operation == logical.ListOperation) != b:
			t.Fatalf("list=%q: request %+v", v, rec.got)
		}
	})
}
