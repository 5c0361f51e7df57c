package quota

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in   any
		want float64
		ok   bool
	}{
		"json number":  {json.Number("2.5"), 2.5, true},
		"float":        {float64(3), 3, true},
		"int":          {7, 7, true},
		"string":       {" 0.25 ", 0.25, true},
		"zero":         {json.Number("0"), 0, false},
		"negative":     {-1.0, 0, false},
		"not a number": {"fast", 0, false},
		"nan":          {"NaN", 0, false},
		"inf":          {"+Inf", 0, false},
		"bool":         {true, 0, false},
		"nil":          {nil, 0, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseRate(%v) = %v, %v", tc.in, got, err)
			}
			if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("error %v is not an invalid request", err)
			}
		})
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1", "0.5", "-1", "0", "NaN", "Inf", "1e308", "1e-320", "1e-300", "1e19", "", "abc", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if !(r > 0) || math.IsInf(r, 0) {
			t.Fatalf("ParseRate(%q) accepted %v", s, r)
		}
		q, err := Normalize(Quota{Name: "q", Rate: r})
		if err != nil {
			t.Fatalf("a parsed rate %v failed Normalize: %v", r, err)
		}
		ru := newRule(q, 1)
		if ru.burst < 1 || ru.idle < 0 || !(ru.limit > 0) {
			t.Fatalf("rate %v compiled to burst %d, idle %v, limit %v", q.Rate, ru.burst, ru.idle, ru.limit)
		}
		if d := ru.allow("a", time.Unix(0, 0)); !d.Allowed {
			t.Fatalf("rate %v refused the first request", q.Rate)
		}
		for range 2 {
			d := ru.allow("a", time.Unix(0, 0))
			if !d.Allowed && (d.RetryAfter < 0 || d.RetryAfter > maxIdle) {
				t.Fatalf("rate %v: wait %v", q.Rate, d.RetryAfter)
			}
			if d.Remaining < 0 || d.Remaining > d.Limit || d.Reset < 0 || d.Reset > maxIdle {
				t.Fatalf("rate %v: counts %+v", q.Rate, d)
			}
		}
	})
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"", "secret/", "secret", "secret/data/*", "/a//b/", "a/../b", "*", "a*b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		q, err := Normalize(Quota{Name: "q", Rate: 1, Path: p})
		if err != nil {
			return
		}
		again, err := Normalize(q)
		if err != nil || again.Path != q.Path {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, q.Path, again.Path, err)
		}
		r := newRule(q, 1)
		if r.prefix != "" && !r.covers(r.prefix) {
			t.Fatalf("rule for %q does not cover its own path", q.Path)
		}
	})
}

func FuzzExemptPaths(f *testing.F) {
	for _, s := range []string{"sys/mounts", "secret/*", "!secret/x", "*", "/", "!", "!*", "a*b", "a/../b", "sys/quotas/", " ! sys/x "} {
		f.Add(s, "sys/quotas/rate-limit/q")
	}
	f.Fuzz(func(t *testing.T, entry, path string) {
		c, err := NormalizeConfig(Config{ExemptPaths: []string{entry}})
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("NormalizeConfig(%q): %v is not a 400", entry, err)
			}
			return
		}
		again, err := NormalizeConfig(c)
		if err != nil || fmt.Sprint(again.ExemptPaths) != fmt.Sprint(c.ExemptPaths) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", entry, c.ExemptPaths, again.ExemptPaths, err)
		}
		set := compileExempt(c.ExemptPaths)
		for _, e := range set {
			if !e.exception && !set.covers(e.prefix) {
				t.Fatalf("entry %q does not cover its own prefix %q", entry, e.prefix)
			}
		}
		// Whatever the list says, the quota endpoints stay reachable.
		if !AlwaysExempt("sys/quotas/rate-limit/q") || !AlwaysExempt("sys/quotas/config") {
			t.Fatal("the quota endpoints lost their exemption")
		}
		_ = set.covers(path)
	})
}
