package e2e

import (
	"net/http"
	"strconv"
	"testing"
)

// rateHeaders reads path and returns the status and the three
// X-Ratelimit-* headers ("" when absent).
func rateHeaders(t *testing.T, s *server, token, path string) (int, [3]string) {
	t.Helper()
	resp, err := s.as(t, token).Logical().ReadRaw(path)
	if resp == nil {
		t.Fatalf("%s: no response: %v", path, err)
	}
	defer resp.Body.Close()
	h := resp.Header
	return resp.StatusCode, [3]string{h.Get("X-Ratelimit-Limit"), h.Get("X-Ratelimit-Remaining"), h.Get("X-Ratelimit-Reset")}
}

// TestRateLimitResponseHeaders checks Vault's X-Ratelimit-Limit, -Remaining
// and -Reset: absent until sys/quotas/config enables them (a global switch,
// not a field of a quota), then on every request a quota decides, whatever
// its answer, and never on a path no quota covers or one that is exempt.
func TestRateLimitResponseHeaders(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client
	if _, err := c.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	// Five an hour: nothing refills while the test runs.
	if _, err := c.Logical().Write("sys/quotas/rate-limit/q", map[string]any{"rate": 5, "interval": "1h", "path": "secret/"}); err != nil {
		t.Fatal(err)
	}
	none := [3]string{}
	if code, h := rateHeaders(t, s, s.root, "secret/data/app"); code != 200 || h != none {
		t.Fatalf("headers off: %d %q", code, h)
	}
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"enable_rate_limit_response_headers": true}); err != nil {
		t.Fatal(err)
	}
	conf, err := c.Logical().Read("sys/quotas/config")
	if err != nil || conf.Data["enable_rate_limit_response_headers"] != true || len(conf.Data["rate_limit_exempt_paths"].([]any)) == 0 {
		t.Fatalf("config: %+v %v (turning the headers on must keep the exempt paths)", conf, err)
	}
	reset := func(h [3]string) int {
		n, err := strconv.Atoi(h[2])
		if err != nil || n < 1 || n > 3600 {
			t.Fatalf("X-Ratelimit-Reset %q, want whole seconds within the 1h interval", h[2])
		}
		return n
	}
	code, h := rateHeaders(t, s, s.root, "secret/data/app")
	if code != 200 || h[0] != "5" || h[1] != "3" {
		t.Fatalf("second request: %d %q, want limit 5, 3 remaining", code, h)
	}
	reset(h)
	// A request the quota lets through carries the headers even when a
	// later stage refuses it, as in Vault.
	if code, h := rateHeaders(t, s, "not-a-token", "secret/data/app"); code != http.StatusForbidden || h[0] != "5" || h[1] != "2" {
		t.Fatalf("denied by policy: %d %q", code, h)
	}
	for range 2 {
		rateHeaders(t, s, s.root, "secret/data/app")
	}
	resp, _ := c.Logical().ReadRaw("secret/data/app")
	if resp == nil {
		t.Fatal("no response")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Ratelimit-Limit") != "5" ||
		resp.Header.Get("X-Ratelimit-Remaining") != "0" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", resp.StatusCode, resp.Header)
	}
	reset([3]string{"", "", resp.Header.Get("X-Ratelimit-Reset")})
	for _, p := range []string{"sys/mounts", "sys/quotas/config", "sys/seal-status"} {
		if code, h := rateHeaders(t, s, s.root, p); code != 200 || h != none {
			t.Fatalf("%s, which no quota covers or is exempt: %d %q", p, code, h)
		}
	}
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"enable_rate_limit_response_headers": false}); err != nil {
		t.Fatal(err)
	}
	if code, h := rateHeaders(t, s, s.root, "secret/data/app"); code != http.StatusTooManyRequests || h != none {
		t.Fatalf("headers off again: %d %q", code, h)
	}
}
