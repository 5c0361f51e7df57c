package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestRateLimitedAnswer(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err        error
		wantRetry  string
		wantStatus int
	}{
		"half a second rounds up": {&logical.RateLimitedError{Path: "secret/data/x", RetryAfter: 500 * time.Millisecond}, "1", 429},
		"whole seconds":           {&logical.RateLimitedError{Path: "secret/data/x", RetryAfter: 10 * time.Second}, "10", 429},
		"just over":               {&logical.RateLimitedError{Path: "secret/data/x", RetryAfter: 2*time.Second + time.Nanosecond}, "3", 429},
		"unknown wait":            {&logical.RateLimitedError{Path: "secret/data/x"}, "1", 429},
		"wrapped":                 {fmt.Errorf("core: %w", &logical.RateLimitedError{Path: "secret/data/x", RetryAfter: time.Second}), "1", 429},
		"bare sentinel":           {logical.ErrRateLimited, "", 429},
		"other error":             {logical.ErrPermissionDenied, "", 403},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			New(&recorder{err: tc.err}, Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/secret/data/x", nil))
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Fatalf("Retry-After %q, want %q", got, tc.wantRetry)
			}
		})
	}
	w := httptest.NewRecorder()
	New(&recorder{err: &logical.RateLimitedError{Path: "secret/data/x", RetryAfter: time.Second}}, Options{}).
		ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/secret/data/x", nil))
	if want := `{"errors":["request path \"secret/data/x\": rate limit quota exceeded"]}` + "\n"; w.Body.String() != want {
		t.Fatalf("body %s, want Vault's %s", w.Body, want)
	}
}
