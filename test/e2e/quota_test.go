package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// flood reads path n times in a row and counts the answers. It fails the
// test on anything but success or 429, and on a success after a 429 when
// the quota blocks (blocked), since a blocked client must stay refused.
func flood(t *testing.T, c *api.Client, path string, n int, blocked bool) (ok, limited int, retryAfter string) {
	t.Helper()
	for i := range n {
		resp, err := c.Logical().ReadRaw(path)
		if resp != nil {
			_ = resp.Body.Close()
		}
		switch {
		case err == nil:
			if blocked && limited > 0 {
				t.Fatalf("%s: request %d passed after the client was blocked", path, i)
			}
			ok++
		case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
			limited++
			retryAfter = resp.Header.Get("Retry-After")
			var re *api.ResponseError
			if !errors.As(err, &re) || len(re.Errors) != 1 || re.Errors[0] != `request path "`+path+`": rate limit quota exceeded` {
				t.Fatalf("%s: 429 with %v, want Vault's message", path, err)
			}
		default:
			t.Fatalf("%s: request %d: %v", path, i, err)
		}
	}
	return ok, limited, retryAfter
}

func TestRateLimitQuota(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client
	if err := c.Sys().Mount("other", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/data/app", "other/data/app"} {
		if _, err := c.Logical().Write(p, map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every client here is 127.0.0.1: keep the quota routes reachable
	// whatever the other quotas do.
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"rate_limit_exempt_paths": []string{"sys/quotas/*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("sys/quotas/rate-limit/q1", map[string]any{"rate": 2, "path": "secret", "block_interval": "1h"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Logical().Read("sys/quotas/rate-limit/q1")
	if err != nil || got == nil || got.Data["path"] != "secret/" || got.Data["type"] != "rate-limit" ||
		got.Data["rate"] != json.Number("2") || got.Data["interval"] != json.Number("1") || got.Data["block_interval"] != json.Number("3600") {
		t.Fatalf("read quota: %+v %v", got, err)
	}

	ok, limited, retry := flood(t, c, "secret/data/app", 20, true)
	if ok < 2 || limited == 0 {
		t.Fatalf("secret/: %d passed, %d limited; want the burst of 2 then refusals", ok, limited)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 3600 {
		t.Fatalf("Retry-After %q, want whole seconds up to the 1h block", retry)
	}
	if ok, limited, _ := flood(t, c, "other/data/app", 20, false); ok != 20 || limited != 0 {
		t.Fatalf("other/: %d passed, %d limited; another mount must be unaffected", ok, limited)
	}

	// A global quota covers everything else, but never the pre-auth paths.
	if _, err := c.Logical().Write("sys/quotas/rate-limit/global", map[string]any{"rate": 1, "interval": "1h"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sys/seal-status", "sys/health", "sys/quotas/rate-limit/q1"} {
		if ok, _, _ := flood(t, c, p, 10, false); ok != 10 {
			t.Fatalf("%s: %d of 10 passed under a global quota", p, ok)
		}
	}
	if ok, limited, _ := flood(t, c, "other/data/app", 5, false); ok != 1 || limited != 4 {
		t.Fatalf("other/ under the global quota: %d passed, %d limited", ok, limited)
	}
	if _, err := c.Logical().Delete("sys/quotas/rate-limit/global"); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Logical().List("sys/quotas/rate-limit"); err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}

	// Quotas live in storage: they come back on unseal, with fresh buckets.
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	s.unseal(t)
	ok, limited, _ = flood(t, c, "secret/data/app", 20, true)
	if ok < 2 || limited == 0 {
		t.Fatalf("after unseal: %d passed, %d limited", ok, limited)
	}

	if _, err := c.Logical().Delete("sys/quotas/rate-limit/q1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := flood(t, c, "secret/data/app", 20, false); ok != 20 {
		t.Fatalf("after delete: %d of 20 passed", ok)
	}
}

func TestRateLimitQuotaRejects(t *testing.T) {
	t.Parallel()
	s := start(t)
	cases := map[string]struct {
		path string
		body map[string]any
	}{
		"zero rate":       {"sys/quotas/rate-limit/q", map[string]any{"rate": 0}},
		"negative rate":   {"sys/quotas/rate-limit/q", map[string]any{"rate": -1}},
		"rate not number": {"sys/quotas/rate-limit/q", map[string]any{"rate": "fast"}},
		"missing rate":    {"sys/quotas/rate-limit/q", map[string]any{"path": "secret/"}},
		"no such mount":   {"sys/quotas/rate-limit/q", map[string]any{"rate": 1, "path": "nosuch/"}},
		"glob past mount": {"sys/quotas/rate-limit/q", map[string]any{"rate": 1, "path": "secr*"}},
		"slash in name":   {"sys/quotas/rate-limit/a/b", map[string]any{"rate": 1}},
		"unknown type":    {"sys/quotas/lease-count/q", map[string]any{"rate": 1}},
		"type in body":    {"sys/quotas/rate-limit/q", map[string]any{"rate": 1, "type": "lease-count"}},
		"role":            {"sys/quotas/rate-limit/q", map[string]any{"rate": 1, "role": "r"}},
		"bad interval":    {"sys/quotas/rate-limit/q", map[string]any{"rate": 1, "interval": "soon"}},
		"bad exempt path": {"sys/quotas/config", map[string]any{"rate_limit_exempt_paths": []string{"a/*/b"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := s.client.Logical().Write(tc.path, tc.body); statusOf(err) != http.StatusBadRequest {
				t.Fatalf("got %v, want a 400", err)
			}
		})
	}
	if list, err := s.client.Logical().List("sys/quotas/rate-limit"); err != nil || list != nil {
		t.Fatalf("a refused quota was stored: %+v %v", list, err)
	}
}

// TestQuotaGoesWithItsMount checks that disabling a mount deletes the
// quotas on it, so a later mount of the same name starts unlimited.
func TestQuotaGoesWithItsMount(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("team", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"on-team": "team/", "on-secret": "secret/"} {
		if _, err := s.client.Logical().Write("sys/quotas/rate-limit/"+name, map[string]any{"rate": 5, "path": path}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.client.Sys().Unmount("team"); err != nil {
		t.Fatal(err)
	}
	if q, err := s.client.Logical().Read("sys/quotas/rate-limit/on-team"); err != nil || q != nil {
		t.Fatalf("the quota outlived its mount: %+v %v", q, err)
	}
	if q, err := s.client.Logical().Read("sys/quotas/rate-limit/on-secret"); err != nil || q == nil {
		t.Fatalf("another mount's quota went too: %+v %v", q, err)
	}
}
