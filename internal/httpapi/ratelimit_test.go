package httpapi

import (
	"context"
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

// quotaStub is a core that reports a rate-limit status on the request, as
// the core does when a quota decided it, then answers with err.
type quotaStub struct {
	status logical.RateLimitStatus
	err    error
}

func (q *quotaStub) HandleRequest(_ context.Context, req *logical.Request) (*logical.Response, error) {
	req.RateLimit = q.status
	if q.err != nil {
		return nil, q.err
	}
	return logical.DataResponse(map[string]any{"a": "b"}), nil
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status                       logical.RateLimitStatus
		err                          error
		wantStatus                   int
		wantLimit, wantLeft, wantRst string
	}{
		"allowed":           {logical.RateLimitStatus{Set: true, Limit: 10, Remaining: 9, Reset: 1500 * time.Millisecond}, nil, 200, "10", "9", "2"},
		"full bucket":       {logical.RateLimitStatus{Set: true, Limit: 1, Remaining: 1}, nil, 200, "1", "1", "0"},
		"on a later error":  {logical.RateLimitStatus{Set: true, Limit: 5, Remaining: 4, Reset: time.Second}, logical.ErrPermissionDenied, 403, "5", "4", "1"},
		"on the 429":        {logical.RateLimitStatus{Set: true, Limit: 5, Reset: time.Minute}, &logical.RateLimitedError{Path: "x", RetryAfter: time.Second}, 429, "5", "0", "60"},
		"not set: no quota": {logical.RateLimitStatus{Limit: 5}, nil, 200, "", "", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			New(&quotaStub{status: tc.status, err: tc.err}, Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/secret/data/x", nil))
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			h := w.Header()
			if got := [3]string{h.Get("X-Ratelimit-Limit"), h.Get("X-Ratelimit-Remaining"), h.Get("X-Ratelimit-Reset")}; got != [3]string{tc.wantLimit, tc.wantLeft, tc.wantRst} {
				t.Fatalf("headers %q, want %q", got, [3]string{tc.wantLimit, tc.wantLeft, tc.wantRst})
			}
		})
	}
}
