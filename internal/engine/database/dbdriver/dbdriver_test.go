package dbdriver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestQueries(t *testing.T) {
	t.Parallel()
	dollar := func(s string) bool { return strings.Contains(s, "$$") }
	for name, tc := range map[string]struct {
		in    []string
		whole func(string) bool
		want  []string
	}{
		"one":                 {[]string{"CREATE ROLE a"}, nil, []string{"CREATE ROLE a"}},
		"semicolons":          {[]string{"A; B;; C;"}, nil, []string{"A", "B", "C"}},
		"several statements":  {[]string{"A;B", "C"}, nil, []string{"A", "B", "C"}},
		"json array":          {[]string{`["A; still A", "B"]`}, nil, []string{"A; still A", "B"}},
		"base64":              {[]string{base64.StdEncoding.EncodeToString([]byte("A; B"))}, nil, []string{"A", "B"}},
		"base64 of json":      {[]string{base64.StdEncoding.EncodeToString([]byte(`["A;B"]`))}, nil, []string{"A;B"}},
		"valid base64 word":   {[]string{"ROLLBACK"}, nil, []string{"ROLLBACK"}},
		"whole":               {[]string{"DO $$ A; B $$;", "C; D"}, dollar, []string{"DO $$ A; B $$;", "C", "D"}},
		"empty":               {[]string{"", " ; ", "[]"}, nil, nil},
		"not a list of names": {[]string{`{"a":1}`}, nil, []string{`{"a":1}`}},
	} {
		if got := Queries(tc.in, tc.whole); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Queries(%q) = %q, want %q", name, tc.in, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	for name, tc := range map[string]struct {
		in   string
		v    Values
		want string
	}{
		"all": {`CREATE ROLE "{{name}}" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' -- {{username}}`,
			Values{"v-a", "p-1", exp}, `CREATE ROLE "v-a" PASSWORD 'p-1' VALID UNTIL '2030-01-02 03:04:05+0100' -- v-a`},
		"no password given": {`x {{name}} {{password}}`, Values{Username: "u"}, `x u {{password}}`},
		"nothing":           {`{{name}}`, Values{}, `{{name}}`},
		"not recursive":     {`{{name}}`, Values{Username: "{{password}}", Password: "p"}, `{{password}}`},
	} {
		if got := Render(tc.in, tc.v); got != tc.want {
			t.Errorf("%s: Render = %q, want %q", name, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	const pw = `s3cr/t@:'x y\z`
	for _, form := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw), EscapeURLComponent(pw), strings.ReplaceAll(pw, "'", "''")} {
		err := Scrub(fmt.Errorf("%w: failed for %q at %s", ErrUnavailable, "u", form), "", pw)
		if strings.Contains(err.Error(), form) || !strings.Contains(err.Error(), Redacted) {
			t.Errorf("form %q survived: %v", form, err)
		}
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBadConfig) {
			t.Errorf("kinds lost or invented: %v", err)
		}
	}
	if errors.Unwrap(Scrub(context.Canceled)) != nil {
		t.Error("a scrubbed error unwraps to the original")
	}
	if !errors.Is(Scrub(fmt.Errorf("x: %w", context.DeadlineExceeded)), context.DeadlineExceeded) {
		t.Error("context errors must stay recognisable")
	}
	if Scrub(nil) != nil {
		t.Error("Scrub(nil) != nil")
	}
}

func TestEscapeURLComponent(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"plain-Pw_1.~", "a@b:c/d?e#f%g h+i&j=k", "名前", "\x00\xff"} {
		esc := EscapeURLComponent(s)
		u, err := url.Parse("postgres://user:" + esc + "@host/db")
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got, _ := u.User.Password(); got != s {
			t.Errorf("%q escaped as %q reads back as %q", s, esc, got)
		}
	}
	if got := EscapeURLComponent("Ab-9_.~"); got != "Ab-9_.~" {
		t.Errorf("unreserved characters were escaped: %q", got)
	}
}

// FuzzQueries: no statement text makes Queries panic, and every query it
// returns is non-empty and trimmed.
func FuzzQueries(f *testing.F) {
	for _, s := range []string{"A; B", `["A", "B"]`, "QTsgQg==", "DO $$ x; $$", "", ";;", `[1]`, "ROLLBACK", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, q := range Queries([]string{s}, func(x string) bool { return strings.Contains(x, "$$") }) {
			if q == "" || q != strings.TrimSpace(q) {
				t.Fatalf("query %q", q)
			}
		}
	})
}

// FuzzScrub: whatever the secret, it does not survive in a message that
// quotes it in any of the forms Scrub knows.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{"pw", "p@ss:word/", "'", "%", "名前", "[password]"} {
		f.Add(s, "prefix ", " suffix")
	}
	f.Fuzz(func(t *testing.T, secret, before, after string) {
		if len(secret) < 3 || strings.Contains(Redacted, secret) {
			return
		}
		for _, form := range []string{secret, url.QueryEscape(secret), EscapeURLComponent(secret)} {
			got := ScrubString(before+form+after, secret)
			if strings.Contains(got, form) && !strings.Contains(before+after, form) {
				t.Fatalf("secret form %q survived in %q", form, got)
			}
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	err := Unavailable(errors.New("dial tcp: refused"))
	if !errors.Is(err, ErrUnavailable) || err.Error() != "dial tcp: refused" {
		t.Fatalf("Unavailable: %v", err)
	}
	if s := Scrub(err); !errors.Is(s, ErrUnavailable) || s.Error() != err.Error() {
		t.Fatalf("scrubbed: %v", s)
	}
}
