package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRequestWrapTTL(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		ttl, format string
		want        time.Duration
		ok          bool
	}{
		"none":          {"", "", 0, true},
		"seconds":       {"60", "", time.Minute, true},
		"duration":      {"5m", "", 5 * time.Minute, true},
		"zero":          {"0", "", 0, true},
		"padded":        {" 30s ", "", 30 * time.Second, true},
		"negative":      {"-5", "", 0, false},
		"negative dur":  {"-1m", "", 0, false},
		"garbage":       {"soon", "", 0, false},
		"huge seconds":  {"99999999999999999", "", 0, false},
		"jwt format":    {"60", "jwt", 0, false},
		"other format":  {"60", "uuid", time.Minute, true},
		"format no ttl": {"", "jwt", 0, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/v1/secret/x", nil)
			if tc.ttl != "" {
				r.Header.Set("X-Vault-Wrap-TTL", tc.ttl)
			}
			if tc.format != "" {
				r.Header.Set("X-Vault-Wrap-Format", tc.format)
			}
			got, err := requestWrapTTL(r)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("got %v, %v", got, err)
			}
			if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("not a 400: %v", err)
			}
		})
	}
}

// FuzzWrapTTLHeader: any header value is a duration or a 400, never a
// panic or a negative TTL.
func FuzzWrapTTLHeader(f *testing.F) {
	for _, s := range []string{"60", "5m", "-1", "1h30m", "9223372036", "1e3", "0x10", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
		r.Header["X-Vault-Wrap-Ttl"] = []string{v}
		got, err := requestWrapTTL(r)
		if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%q: %v", v, err)
		}
		if got < 0 {
			t.Fatalf("%q: negative ttl %v", v, got)
		}
	})
}

// TestWrapInfoEnvelope checks the wire shape of a wrapped response: the
// request's wrap TTL reaches the core and wrap_info comes back as Vault's
// clients read it, with a 200 though data and auth are empty.
func TestWrapInfoEnvelope(t *testing.T) {
	t.Parallel()
	created := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	rec := &recorder{resp: &logical.Response{WrapInfo: &logical.WrapInfo{
		Token: "s.wrap", Accessor: "acc", TTL: time.Minute, CreationTime: created, CreationPath: "secret/data/x",
	}}}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1/secret/data/x", nil)
	r.Header.Set("X-Vault-Token", "t")
	r.Header.Set("X-Vault-Wrap-TTL", "1m")
	New(rec, Options{}).ServeHTTP(w, r)
	if w.Code != http.StatusOK || rec.got.WrapTTL != time.Minute {
		t.Fatalf("status %d, wrap ttl %v", w.Code, rec.got.WrapTTL)
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	wi, _ := body["wrap_info"].(map[string]any)
	want := map[string]any{"token": "s.wrap", "accessor": "acc", "ttl": 60.0, "creation_time": "2030-01-02T03:04:05.000000006Z", "creation_path": "secret/data/x"}
	for k, v := range want {
		if wi[k] != v {
			t.Fatalf("wrap_info[%s] = %v, want %v (body %s)", k, wi[k], v, w.Body)
		}
	}
	if _, ok := wi["wrapped_accessor"]; ok || body["data"] != nil || body["auth"] != nil {
		t.Fatalf("body %s", w.Body)
	}
}
