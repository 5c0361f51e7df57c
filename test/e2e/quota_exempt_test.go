package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/quota"
)

// TestAbsurdGlobalQuotaCannotLockOut is issue 5's security finding 5: a
// token allowed to write sys/quotas sets a global quota of one request in
// a million seconds. Ordinary paths are then refused, as they should be,
// but root can still read and delete the quota, even after the exempt list
// is emptied, and the seal-status, health and unseal paths keep working.
func TestAbsurdGlobalQuotaCannotLockOut(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client
	if _, err := c.Logical().Write("secret/data/app", map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("sys/quotas/rate-limit/absurd", map[string]any{"rate": 0.000001}); err != nil {
		t.Fatal(err)
	}
	if ok, limited, _ := flood(t, c, "secret/data/app", 3, false); ok != 1 || limited != 2 {
		t.Fatalf("ordinary path under the absurd quota: %d passed, %d limited; want 1 then refusals", ok, limited)
	}
	readQuota := func(when string) {
		t.Helper()
		for i := range 3 {
			q, err := c.Logical().Read("sys/quotas/rate-limit/absurd")
			if err != nil || q == nil || q.Data["rate"] != json.Number("0.000001") {
				t.Fatalf("%s: root's read %d of the quota: %+v %v", when, i, q, err)
			}
		}
		if l, err := c.Logical().List("sys/quotas/rate-limit"); err != nil || l == nil {
			t.Fatalf("%s: root's list of quotas: %+v %v", when, l, err)
		}
	}
	readQuota("with the default exempt paths")

	// An operator (or the same token) empties the exempt list: the quota
	// endpoints stay reachable regardless.
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"rate_limit_exempt_paths": []string{}}); err != nil {
		t.Fatal(err)
	}
	if conf, err := c.Logical().Read("sys/quotas/config"); err != nil || len(conf.Data["rate_limit_exempt_paths"].([]any)) != 0 {
		t.Fatalf("config after emptying the list: %+v %v", conf, err)
	}
	readQuota("with no exempt paths")

	// The pre-auth paths answer however often they are asked, sealed or
	// not, and the server unseals under the quota.
	if err := s.core.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if st, err := c.Sys().SealStatus(); err != nil || !st.Sealed {
			t.Fatalf("seal-status %d while sealed: %+v %v", i, st, err)
		}
		if _, err := c.Sys().Health(); err != nil {
			t.Fatalf("health %d: %v", i, err)
		}
	}
	s.unseal(t)
	for i := range 5 {
		if st, err := c.Sys().SealStatus(); err != nil || st.Sealed {
			t.Fatalf("seal-status %d after unseal: %+v %v", i, st, err)
		}
	}
	readQuota("after unseal")
	if ok, limited, _ := flood(t, c, "secret/data/app", 3, false); ok != 1 || limited != 2 {
		t.Fatalf("the quota came back from storage, yet %d passed and %d were limited", ok, limited)
	}
	if _, err := c.Logical().Delete("sys/quotas/rate-limit/absurd"); err != nil {
		t.Fatalf("root could not delete the quota: %v", err)
	}
	if ok, _, _ := flood(t, c, "secret/data/app", 10, false); ok != 10 {
		t.Fatalf("after the delete %d of 10 passed", ok)
	}
}

// TestQuotaConfigExemptPaths checks sys/quotas/config reads back Vault's
// default exempt paths until written, then what was written, and that the
// entries match as Vault's do: as prefixes, with '*' and '!'.
func TestQuotaConfigExemptPaths(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client
	conf, err := c.Logical().Read("sys/quotas/config")
	if err != nil || conf == nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range conf.Data["rate_limit_exempt_paths"].([]any) {
		got = append(got, p.(string))
	}
	for _, want := range []string{"sys/generate-recovery-token/attempt", "sys/generate-recovery-token/update", "sys/generate-root/attempt",
		"sys/generate-root/update", "sys/health", "sys/seal-status", "sys/unseal", "sys/quotas/*"} {
		if !slices.Contains(got, want) {
			t.Fatalf("default exempt paths %q lack %q", got, want)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(quota.DefaultExemptPaths) || conf.Data["enable_rate_limit_response_headers"] != false {
		t.Fatalf("default config %+v", conf.Data)
	}

	if err := c.Sys().Mount("other", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/data/open", "secret/data/open/shut", "other/data/x"} {
		if _, err := c.Logical().Write(p, map[string]any{"data": map[string]any{"a": "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	written := []string{"secret/data/open*", "!secret/data/open/shut", "other/"}
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"rate_limit_exempt_paths": written}); err != nil {
		t.Fatal(err)
	}
	if conf, err := c.Logical().Read("sys/quotas/config"); err != nil || fmt.Sprint(conf.Data["rate_limit_exempt_paths"]) != fmt.Sprint(written) {
		t.Fatalf("read back %+v %v, want %q", conf, err, written)
	}
	if _, err := c.Logical().Write("sys/quotas/rate-limit/g", map[string]any{"rate": 1, "interval": "1h"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"secret/data/open": 5, "other/data/x": 5} {
		if ok, _, _ := flood(t, c, path, 5, false); ok != want {
			t.Fatalf("%s: %d of 5 passed, want %d", path, ok, want)
		}
	}
	if ok, limited, _ := flood(t, c, "secret/data/open/shut", 3, false); ok > 1 || limited < 2 {
		t.Fatalf("the exception: %d passed, %d limited", ok, limited)
	}
	if _, err := c.Logical().Write("sys/quotas/config", map[string]any{"rate_limit_exempt_paths": []string{"a/*/b"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("a '*' inside a path: %v, want a 400", err)
	}
}

// TestQuotaInheritable is issue 5's wire item 7, with Vault's rules for the
// root namespace, the only one Coffer has: every quota reads back
// inheritable, true is refused on a quota with a path, false on any.
func TestQuotaInheritable(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client
	cases := map[string]struct {
		body    map[string]any
		wantErr string
	}{
		"global":               {map[string]any{"rate": 5}, ""},
		"global, true":         {map[string]any{"rate": 5, "inheritable": true}, ""},
		"mount":                {map[string]any{"rate": 5, "path": "secret/"}, ""},
		"global, false":        {map[string]any{"rate": 5, "inheritable": false}, "all global quotas must be inheritable"},
		"mount, true":          {map[string]any{"rate": 5, "path": "secret/", "inheritable": true}, "only namespace quotas can be configured as inheritable"},
		"mount, false":         {map[string]any{"rate": 5, "path": "secret/", "inheritable": "false"}, "all global quotas must be inheritable"},
		"sub-path, true":       {map[string]any{"rate": 5, "path": "secret/data/x", "inheritable": true}, "only namespace quotas can be configured as inheritable"},
		"not a bool":           {map[string]any{"rate": 5, "inheritable": "sometimes"}, "inheritable"},
		"sub-path, left alone": {map[string]any{"rate": 5, "path": "secret/data/y"}, ""},
	}
	i := 0
	for name, tc := range cases {
		i++
		qname := "q" + strconv.Itoa(i)
		t.Run(name, func(t *testing.T) {
			_, err := c.Logical().Write("sys/quotas/rate-limit/"+qname, tc.body)
			if tc.wantErr != "" {
				var re *api.ResponseError
				if statusOf(err) != http.StatusBadRequest || !errors.As(err, &re) || len(re.Errors) != 1 || !strings.Contains(re.Errors[0], tc.wantErr) {
					t.Fatalf("got %v, want a 400 saying %q", err, tc.wantErr)
				}
				if q, err := c.Logical().Read("sys/quotas/rate-limit/" + qname); err != nil || q != nil {
					t.Fatalf("a refused quota was stored: %+v %v", q, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			q, err := c.Logical().Read("sys/quotas/rate-limit/" + qname)
			if err != nil || q == nil || q.Data["inheritable"] != true {
				t.Fatalf("read back %+v %v, want inheritable true", q, err)
			}
			if err := deleteQuota(c, qname); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func deleteQuota(c *api.Client, name string) error {
	_, err := c.Logical().Delete("sys/quotas/rate-limit/" + name)
	return err
}
