package database

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestUsernameTemplates(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		tmpl  string
		max   int
		match string
	}{
		"postgres default": {`{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`, 63, `^v-userpass-my-role-[A-Za-z0-9]{20}-[0-9]{10}$`},
		"functions":        {`{{ .RoleName | uppercase }}_{{ .DisplayName | replace "-" "_" | lowercase }}_{{ "x" | sha256 | truncate 6 }}`, 0, `^MY-ROLE_userpass_alice_2d7116$`},
		"truncate_sha256":  {`{{ .DisplayName | truncate_sha256 12 }}`, 0, `^user[0-9a-f]{8}$`},
		"hex and base64":   {`{{ "ab" | hex }}-{{ "x" | base64 | replace "=" "" }}`, 0, `^6162-eA$`},
		"glob":             {`{{ if glob "my-*" .RoleName }}matched{{ else }}no{{ end }}`, 0, `^matched$`},
		"uuid and time":    {`{{ uuid }}.{{ unix_time_millis }}.{{ timestamp "2006" }}`, 0, `^[0-9a-f-]{36}\.[0-9]{13}\.[0-9]{4}$`},
	} {
		u, err := newUsernameTemplate(tc.tmpl, tc.max)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := u.generate("userpass-alice", "my-role")
		if err != nil || !regexp.MustCompile(tc.match).MatchString(got) {
			t.Errorf("%s: %q %v, want %s", name, got, err, tc.match)
		}
	}
	for name, tmpl := range map[string]string{
		"parse error":    `{{ .DisplayName `,
		"unknown field":  `{{ .Nope }}`,
		"quote":          `{{ .RoleName }}'`,
		"empty":          `{{ "" }}`,
		"too long":       `{{ random 64 }}`,
		"bad truncate":   `{{ .RoleName | truncate 0 }}`,
		"random too big": `{{ random 100000 }}`,
		"endless":        `{{ range 1000000000 }}x{{ end }}`,
	} {
		if _, err := newUsernameTemplate(tmpl, 63); err == nil {
			t.Errorf("%s: %q accepted", name, tmpl)
		}
	}
}

func TestCleanName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`a"; DROP ROLE x; --`: "a---DROP-ROLE-x----",
		"o'brien":             "o-brien",
		"名前 ü":                "----",
		"ok.name_1-x":         "ok.name_1-x",
		"a\x00b":              "a-b",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewPassword(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[A-Za-z0-9-]{20}$`)
	seen := map[string]bool{}
	for range 200 {
		p := newPassword()
		if !re.MatchString(p) || !strings.ContainsAny(p, lowers) || !strings.ContainsAny(p, uppers) ||
			!strings.ContainsAny(p, digits) || !strings.Contains(p, dash) {
			t.Fatalf("password %q breaks the policy", p)
		}
		if seen[p] {
			t.Fatalf("password %q repeated", p)
		}
		seen[p] = true
	}
}

func TestTTLs(t *testing.T) {
	t.Parallel()
	b := newBackend(&logical.BackendConfig{Storage: logical.NewInmemStorage(),
		System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 10 * time.Hour}}, nil)
	for name, tc := range map[string]struct {
		r        role
		ttl, max time.Duration
	}{
		"mount defaults":      {role{}, time.Hour, 10 * time.Hour},
		"role ttl":            {role{DefaultTTL: 5 * time.Minute}, 5 * time.Minute, 10 * time.Hour},
		"role max below ttl":  {role{MaxTTL: 30 * time.Minute}, 30 * time.Minute, 30 * time.Minute},
		"role max over mount": {role{DefaultTTL: 20 * time.Hour, MaxTTL: 48 * time.Hour}, 10 * time.Hour, 10 * time.Hour},
	} {
		ttl, max := b.ttls(&tc.r)
		if ttl != tc.ttl || max != tc.max {
			t.Errorf("%s: ttl %v max %v, want %v %v", name, ttl, max, tc.ttl, tc.max)
		}
	}
}

// FuzzParseStatements: any JSON value a client sends as statements is
// either a list of strings or a 400-worthy error, never a panic.
func FuzzParseStatements(f *testing.F) {
	for _, s := range []string{`"CREATE ROLE x"`, `["a","b"]`, `[1]`, `{}`, `null`, `""`, `[["x"]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		data := map[string]any{}
		if err := jsonUnmarshal(`{"s":`+body+`}`, &data); err != nil {
			return
		}
		list, err := parseStatements(data["s"])
		if err != nil && list != nil {
			t.Fatalf("both a list and an error for %s", body)
		}
	})
}

// FuzzUsernameTemplate: whatever the names and the template, a generated
// name is either refused or in the safe alphabet.
func FuzzUsernameTemplate(f *testing.F) {
	for _, s := range []string{`{{.DisplayName}}-{{.RoleName}}`, `{{ .DisplayName | decode_hex }}`, `x{{ random 3 }}`, `{{ printf "%s" .RoleName | uppercase }}`} {
		f.Add(s, `a"b';c`, "名前")
	}
	f.Fuzz(func(t *testing.T, tmpl, display, role string) {
		u, err := newUsernameTemplate(tmpl, 63)
		if err != nil {
			return
		}
		name, err := u.generate(display, role)
		if err == nil && (!safeName(name) || len(name) > 63 || name == "") {
			t.Fatalf("template %q made %q", tmpl, name)
		}
	})
}
