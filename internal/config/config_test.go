package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestGoldenFull(t *testing.T) {
	t.Parallel()
	s, err := LoadFile(filepath.Join("testdata", "full.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "full.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte("storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n"), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	l := s.Listeners[0]
	switch {
	case s.Storage.Type != StorageInmem:
		t.Fatalf("storage %+v", s.Storage)
	case l.Address != DefaultAddress || l.MaxRequestSize != 32<<20 || !l.TLSDisable || l.TLSMinVersion != "tls12",
		l.DisableUnauthedRekeyEndpoints || l.DisableUnauthedGenerateRootEndpoints:
		t.Fatalf("listener %+v", l)
	case s.DefaultLeaseTTL != 768*time.Hour || s.MaxLeaseTTL != 768*time.Hour:
		t.Fatalf("ttls %v %v", s.DefaultLeaseTTL, s.MaxLeaseTTL)
	case s.LogLevel != "info" || s.LogFormat != "text" || s.Seal != nil || s.UI:
		t.Fatalf("server %+v", s)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	src := `{
  "storage": {"file": {"path": "/data"}},
  "listener": [{"tcp": {"address": ":8200", "tls_disable": true}}, {"tcp": {"address": ":8201", "tls_disable": "true"}}],
  "max_request_size_is_not_top_level": null
}`
	_, err := Parse([]byte(src), "config.json")
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("want unknown key, got %v", err)
	}
	src = `{
  "storage": {"file": {"path": "/data"}},
  "listener": [{"tcp": {"address": ":8200", "tls_disable": true}}, {"tcp": {"address": ":8201", "tls_disable": "true"}}],
  "ui": true
}`
	s, err := Parse([]byte(src), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if s.Storage.Path != "/data" || len(s.Listeners) != 2 || s.Listeners[1].Address != ":8201" || !s.UI {
		t.Fatalf("got %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n" // lines 1-4
	cases := map[string]struct {
		src  string
		kind error
		want string
	}{
		"unknown top-level key": {
			base + "\nui = true\nlistner \"tcp\" {}\n", ErrUnknownKey,
			`config.hcl:7: unknown key "listner"`,
		},
		"unknown telemetry key": {
			base + "\ntelemetry {\n  statsd_address = \"x\"\n}\n", ErrUnknownKey,
			`config.hcl:7: unknown key "statsd_address" in telemetry`,
		},
		"telemetry not a block": {
			base + "\ntelemetry = \"on\"\n", ErrInvalidValue,
			`config.hcl:6: telemetry must be a block: telemetry { prometheus_retention_time = "24h" }`,
		},
		"bad usage gauge period": {
			base + "\ntelemetry {\n  usage_gauge_period = \"often\"\n}\n", ErrInvalidValue,
			`config.hcl:7: "usage_gauge_period" must be a duration such as "768h" or a number of seconds, not "often"`,
		},
		"unknown listener telemetry key": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  telemetry {\n    unauthenticated_metrics = true\n  }\n}\n", ErrUnknownKey,
			`config.hcl:5: unknown key "unauthenticated_metrics" in listener "tcp" telemetry`,
		},
		"unknown listener key": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  adress = \"x\"\n}\n", ErrUnknownKey,
			`config.hcl:4: unknown key "adress" in listener "tcp"`,
		},
		"unknown storage key": {
			"storage \"file\" {\n  path = \"/x\"\n  paht = \"/y\"\n}\n", ErrUnknownKey,
			`config.hcl:3: unknown key "paht" in storage "file"`,
		},
		"unknown storage type": {
			"\nstorage \"consul\" {}\n", ErrUnknownKey,
			`config.hcl:2: unknown storage type "consul" (supported: file, raft, postgresql, inmem)`,
		},
		"unknown listener type": {
			"storage \"inmem\" {}\nlistener \"unix\" {}\n", ErrUnknownKey,
			`config.hcl:2: unknown listener type "unix" (supported: tcp)`,
		},
		"unknown seal type": {
			base + "seal \"awskms\" {}\n", ErrUnknownKey,
			`config.hcl:5: unknown seal type "awskms" (supported: static)`,
		},
		"missing storage": {
			"listener \"tcp\" {\n  tls_disable = true\n}\n", ErrMissing,
			`config.hcl: missing storage block: add storage "file" { path = "/var/lib/coffer" } or storage "inmem" {}`,
		},
		"missing listener": {
			"storage \"inmem\" {}\n", ErrMissing,
			`config.hcl: missing listener block: add listener "tcp" { address = "127.0.0.1:8200" ... }`,
		},
		"file storage without path": {
			"storage \"file\" {\n}\n", ErrMissing,
			`config.hcl:1: storage "file" needs path, the directory for the database`,
		},
		"postgresql bad ha_table": {
			"storage \"postgresql\" {\n  ha_enabled = \"true\"\n  ha_table = \"a b\"\n}\n", ErrInvalidValue,
			`config.hcl:3: ha_table "a b": table must be a plain identifier such as coffer_kv_store or myschema.coffer_kv_store (letters, digits, "_", "$", not starting with a digit, at most 63 bytes a part)`,
		},
		"postgresql bad table": {
			"storage \"postgresql\" {\n  table = \"kv; drop\"\n}\n", ErrInvalidValue,
			`config.hcl:2: table "kv; drop": table must be a plain identifier such as coffer_kv_store or myschema.coffer_kv_store (letters, digits, "_", "$", not starting with a digit, at most 63 bytes a part)`,
		},
		"postgresql zero max_parallel": {
			"storage \"postgresql\" {\n  max_parallel = 0\n}\n", ErrInvalidValue,
			`config.hcl:2: max_parallel must be between 1 and 10000, not 0`,
		},
		"postgresql unknown key": {
			"storage \"postgresql\" {\n  connection = \"x\"\n}\n", ErrUnknownKey,
			`config.hcl:2: unknown key "connection" in storage "postgresql"`,
		},
		"two storage blocks": {
			base + "storage \"file\" {\n  path = \"/x\"\n}\n", ErrDuplicate,
			`config.hcl:5: only one storage block is allowed (first on line 1)`,
		},
		"listener without tls": {
			"storage \"inmem\" {}\n\nlistener \"tcp\" {\n  address = \"0.0.0.0:8200\"\n}\n", ErrTLSRequired,
			`config.hcl:3: listener "tcp" needs tls_cert_file and tls_key_file; to serve plain HTTP write tls_disable = true`,
		},
		"listener with cert only": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_cert_file = \"/c\"\n}\n", ErrTLSRequired,
			`config.hcl:2: listener "tcp" needs tls_cert_file and tls_key_file; to serve plain HTTP write tls_disable = true`,
		},
		"tls_disable false string": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = \"false\"\n}\n", ErrTLSRequired,
			`config.hcl:2: listener "tcp" needs tls_cert_file and tls_key_file; to serve plain HTTP write tls_disable = true`,
		},
		"bad tls_disable": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = \"maybe\"\n}\n", ErrInvalidValue,
			`config.hcl:3: "tls_disable" must be true or false, not "maybe"`,
		},
		"bad max_request_size": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  max_request_size = \"big\"\n}\n", ErrInvalidValue,
			`config.hcl:4: "max_request_size" must be an integer`,
		},
		"bad tls_min_version": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  tls_min_version = \"ssl3\"\n}\n", ErrInvalidValue,
			`config.hcl:4: tls_min_version must be tls12 or tls13, not "ssl3"`,
		},
		"default ttl over default max": {
			base + "default_lease_ttl = \"1000h\"\n", ErrInvalidValue,
			`config.hcl: default_lease_ttl (1000h0m0s) cannot be longer than max_lease_ttl (768h0m0s, the default)`,
		},
		"overflowing ttl": {
			base + "max_lease_ttl = 18446744074\n", ErrInvalidValue,
			`config.hcl:5: "max_lease_ttl" is too large`,
		},
		"old tls_min_version": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  tls_min_version = \"tls10\"\n}\n", ErrInvalidValue,
			`config.hcl:4: tls_min_version "tls10" is too old: Coffer serves TLS 1.2 or newer; use tls12 or tls13`,
		},
		"seal without key_file": {
			base + "seal \"static\" {\n}\n", ErrMissing,
			`config.hcl:5: seal "static" needs key_file, a file holding 32 random bytes as base64 or hex (generate one with: head -c 32 /dev/urandom | base64)`,
		},
		"two seals": {
			base + "seal \"static\" {\n  key_file = \"/k\"\n}\nseal \"static\" {\n  key_file = \"/k\"\n}\n", ErrDuplicate,
			`config.hcl:8: only one seal block is allowed (first on line 5)`,
		},
		"bad log level": {
			base + "log_level = \"loud\"\n", ErrInvalidValue,
			`config.hcl:5: log_level must be trace, debug, info, warn or error, not "loud"`,
		},
		"bad log format": {
			base + "log_format = \"xml\"\n", ErrInvalidValue,
			`config.hcl:5: log_format must be standard, text or json, not "xml"`,
		},
		"bad duration": {
			base + "default_lease_ttl = \"a month\"\n", ErrInvalidValue,
			`config.hcl:5: "default_lease_ttl" must be a duration such as "768h" or a number of seconds, not "a month"`,
		},
		"negative duration": {
			base + "max_lease_ttl = -5\n", ErrInvalidValue,
			`config.hcl:5: "max_lease_ttl" must be positive`,
		},
		"default above max": {
			base + "default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"\n", ErrInvalidValue,
			`config.hcl: default_lease_ttl (2h0m0s) cannot be longer than max_lease_ttl (1h0m0s)`,
		},
		"ui not a bool": {
			base + "ui = [true]\n", ErrInvalidValue,
			`config.hcl:5: "ui" must be true or false`,
		},
		"string not a number": {
			base + "cluster_name = 7\n", ErrInvalidValue,
			`config.hcl:5: "cluster_name" must be a string`,
		},
		"duplicate key": {
			base + "ui = true\nui = false\n", ErrDuplicate,
			`config.hcl:6: duplicate key "ui" (first set on line 5)`,
		},
		"duplicate block key": {
			"storage \"file\" {\n  path = \"/a\"\n  path = \"/b\"\n}\n", ErrDuplicate,
			`config.hcl:3: duplicate key "path" in storage "file" (first set on line 2)`,
		},
		"block without label": {
			"storage {\n  path = \"/a\"\n}\n", ErrInvalidValue,
			`config.hcl:1: storage needs a type, as in storage "TYPE" { ... }`,
		},
		"value as block": {
			base + "ui \"x\" {}\n", ErrInvalidValue,
			`config.hcl:5: "ui" takes a value, not a block`,
		},
		"bad api_addr": {
			base + "api_addr = \"coffer:8200\"\n", ErrInvalidValue,
			`config.hcl: api_addr "coffer:8200" must be a URL such as https://coffer.example.com:8200`,
		},
		"syntax error": {
			base + "listener \"tcp\" {\n  tls_disable = true\n", ErrSyntax,
			`config.hcl:7: syntax error: object expected closing RBRACE got: EOF`,
		},
		"xff bad address": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = [\"10.0.0.0/8\",\n    \"juan\"]\n}\n", ErrInvalidValue,
			`config.hcl:5: "x_forwarded_for_authorized_addrs": "juan" is not an IP address or CIDR block (such as 10.0.0.5 or 10.0.0.0/24)`,
		},
		"xff bad address in a string": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = \"10.0.0.1, 10.0.0.300\"\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_authorized_addrs": "10.0.0.300" is not an IP address or CIDR block (such as 10.0.0.5 or 10.0.0.0/24)`,
		},
		"xff empty addresses": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = \"\"\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_authorized_addrs": "" is not an IP address or CIDR block (such as 10.0.0.5 or 10.0.0.0/24)`,
		},
		"xff empty list": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = []\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_authorized_addrs" needs at least one address; remove it to trust no proxy`,
		},
		"xff addresses not strings": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = 10\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_authorized_addrs" must be a list of IP addresses or CIDR blocks, or one comma-separated string`,
		},
		"xff negative hop skips": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_authorized_addrs = \"10.0.0.1\"\n  x_forwarded_for_hop_skips = -1\n}\n", ErrInvalidValue,
			`config.hcl:5: "x_forwarded_for_hop_skips" cannot be negative, got -1`,
		},
		"xff hop skips not a number": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_hop_skips = \"two\"\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_hop_skips" must be an integer`,
		},
		"xff bad reject flag": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_reject_not_present = \"sometimes\"\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_reject_not_present" must be true or false, not "sometimes"`,
		},
		"xff reject without addresses": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n\n  x_forwarded_for_reject_not_authorized = true\n}\n", ErrInvalidValue,
			`config.hcl:5: "x_forwarded_for_reject_not_authorized" has no effect without x_forwarded_for_authorized_addrs: list the proxies to trust there, or remove it`,
		},
		"xff hop skips without addresses": {
			"storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n  x_forwarded_for_hop_skips = 2\n}\n", ErrInvalidValue,
			`config.hcl:4: "x_forwarded_for_hop_skips" has no effect without x_forwarded_for_authorized_addrs: list the proxies to trust there, or remove it`,
		},
		"unknown user_lockout type": {
			base + "user_lockout \"kubernetes\" {}\n", ErrUnknownKey,
			`config.hcl:5: unknown user_lockout type "kubernetes" (supported: all, userpass, approle, ldap)`,
		},
		"user_lockout without type": {
			base + "user_lockout {\n  lockout_threshold = 3\n}\n", ErrInvalidValue,
			`config.hcl:5: user_lockout needs a type, as in user_lockout "TYPE" { ... }`,
		},
		"two user_lockout blocks of a type": {
			base + "user_lockout \"all\" {}\nuser_lockout \"ALL\" {}\n", ErrDuplicate,
			`config.hcl:6: only one user_lockout "all" block is allowed (first on line 5)`,
		},
		"unknown user_lockout key": {
			base + "user_lockout \"userpass\" {\n  lockout_treshold = 3\n}\n", ErrUnknownKey,
			`config.hcl:6: unknown key "lockout_treshold" in user_lockout "userpass"`,
		},
		"zero lockout_threshold": {
			base + "user_lockout \"all\" {\n  lockout_threshold = 0\n}\n", ErrInvalidValue,
			`config.hcl:6: "lockout_threshold" must be at least 1; to turn user lockout off write disable_lockout = true`,
		},
		"negative lockout_threshold": {
			base + "user_lockout \"all\" {\n  lockout_threshold = -3\n}\n", ErrInvalidValue,
			`config.hcl:6: "lockout_threshold" must be a whole number of failed logins, such as 5`,
		},
		"text lockout_threshold": {
			base + "user_lockout \"all\" {\n  lockout_threshold = \"five\"\n}\n", ErrInvalidValue,
			`config.hcl:6: "lockout_threshold" must be a whole number of failed logins, such as 5`,
		},
		"bad lockout_duration": {
			base + "user_lockout \"all\" {\n  lockout_duration = \"a while\"\n}\n", ErrInvalidValue,
			`config.hcl:6: "lockout_duration" must be a duration such as "768h" or a number of seconds, not "a while"`,
		},
		"zero lockout_counter_reset": {
			base + "user_lockout \"all\" {\n  lockout_counter_reset = 0\n}\n", ErrInvalidValue,
			`config.hcl:6: "lockout_counter_reset" must be positive`,
		},
		"bad disable_lockout": {
			base + "user_lockout \"ldap\" {\n  disable_lockout = \"sometimes\"\n}\n", ErrInvalidValue,
			`config.hcl:6: "disable_lockout" must be true or false, not "sometimes"`,
		},
		"number overflow": {
			base + "max_lease_ttl = 99999999999999999999\n", ErrInvalidValue,
			`config.hcl:5: "max_lease_ttl" must be a duration such as "768h" or a number of seconds: invalid number 99999999999999999999`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.src), "config.hcl")
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("not a *config.Error: %T", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestForwardedFor(t *testing.T) {
	t.Parallel()
	const head = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n"
	cases := map[string]struct {
		body string
		want string
	}{
		"off by default":     {"", "[] 0 false false"},
		"list":               {"x_forwarded_for_authorized_addrs = [\"10.1.2.3\", \"192.168.0.0/16\"]\n", "[10.1.2.3/32 192.168.0.0/16] 0 false false"},
		"comma string":       {"x_forwarded_for_authorized_addrs = \"10.1.2.3, 2001:db8::/32,::1\"\n", "[10.1.2.3/32 2001:db8::/32 ::1/128] 0 false false"},
		"host bits cleared":  {"x_forwarded_for_authorized_addrs = \"10.1.2.3/8\"\n", "[10.0.0.0/8] 0 false false"},
		"mapped v4 unmapped": {"x_forwarded_for_authorized_addrs = \"::ffff:10.0.0.1\"\n", "[10.0.0.1/32] 0 false false"},
		"every setting": {"x_forwarded_for_authorized_addrs = \"127.0.0.1\"\nx_forwarded_for_hop_skips = \"2\"\n" +
			"x_forwarded_for_reject_not_authorized = \"true\"\nx_forwarded_for_reject_not_present = 1\n", "[127.0.0.1/32] 2 true true"},
		"false flags without addresses": {"x_forwarded_for_reject_not_present = false\nx_forwarded_for_hop_skips = 0\n", "[] 0 false false"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(head+tc.body+"}\n"), "config.hcl")
			if err != nil {
				t.Fatal(err)
			}
			f := s.Listeners[0].ForwardedFor
			if got := fmt.Sprint(f.AuthorizedAddrs, f.HopSkips, f.RejectNotAuthorized, f.RejectNotPresent); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if f.Enabled() != (len(f.AuthorizedAddrs) > 0) {
				t.Fatal("Enabled disagrees with the addresses")
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	t.Parallel()
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.hcl"))
	if !errors.Is(err, ErrRead) {
		t.Fatalf("got %v", err)
	}
}

func TestReadKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	key[0], key[31] = 0x00, 0xff // not all printable, and no white space at either end
	typed := []byte("0123456789abcdef0123456789ABCDEF")
	cases := map[string]struct {
		content []byte
		problem string // part of the message; empty when the key is accepted
	}{
		"hex":                      {content: []byte(hex.EncodeToString(key) + "\n")},
		"hex upper case":           {content: []byte(strings.ToUpper(hex.EncodeToString(key)))},
		"base64":                   {content: []byte(base64.StdEncoding.EncodeToString(key) + "\n")},
		"base64 url unpadded":      {content: []byte(base64.RawURLEncoding.EncodeToString(key))},
		"base64 in whitespace":     {content: []byte("  " + base64.StdEncoding.EncodeToString(key) + "\r\n\n")},
		"32 typed characters":      {content: typed, problem: "holds 32 typed characters or raw bytes, not an encoded key"},
		"32 typed with newline":    {content: append(append([]byte{}, typed...), '\n'), problem: "holds 32 typed characters"},
		"raw random bytes":         {content: key, problem: "raw bytes, not an encoded key"},
		"base64 of typed password": {content: []byte(base64.StdEncoding.EncodeToString(typed)), problem: "typed text or repeated bytes"},
		"hex of typed password":    {content: []byte(hex.EncodeToString(typed)), problem: "typed text or repeated bytes"},
		"zero key":                 {content: []byte(hex.EncodeToString(make([]byte, 32))), problem: "typed text or repeated bytes"},
		"too short":                {content: []byte("short"), problem: "not hold a base64 or hex encoding"},
		"wrong hex length":         {content: []byte("303132"), problem: "not hold a base64 or hex encoding"},
		"empty":                    {content: nil, problem: "not hold a base64 or hex encoding"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "seal.key")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := (&Seal{Type: SealStatic, KeyFile: path}).ReadKey()
			if tc.problem != "" {
				if !errors.Is(err, ErrSealKey) || !strings.Contains(err.Error(), tc.problem) ||
					!strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
					t.Fatalf("got %v, want ErrSealKey saying %q and how to generate a key", err, tc.problem)
				}
				if len(tc.content) >= 16 && strings.Contains(err.Error(), string(tc.content[2:14])) {
					t.Fatalf("the error quotes the file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, key) {
				t.Fatalf("got %x, want %x", got, key)
			}
		})
	}
	_, err := (&Seal{KeyFile: filepath.Join(t.TempDir(), "missing")}).ReadKey()
	if !errors.Is(err, ErrRead) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestUserLockout(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n"
	yes, no := true, false
	cases := map[string]struct {
		src  string
		want []UserLockout
	}{
		"none": {src: base, want: nil},
		"vault's example": {
			src: base + `user_lockout "all" {
  lockout_duration = "10m"
  lockout_counter_reset = "10m"
}
user_lockout "USERPASS" {
  lockout_threshold = "25"
  lockout_duration = "5m"
}
user_lockout "ldap" {
 disable_lockout = "true"
}
`,
			want: []UserLockout{
				{Type: "all", Duration: 10 * time.Minute, CounterReset: 10 * time.Minute, Line: 5},
				{Type: "userpass", Threshold: 25, Duration: 5 * time.Minute, Line: 9},
				{Type: "ldap", Disable: &yes, Line: 13},
			},
		},
		"explicit enable": {
			src:  base + "user_lockout \"approle\" {\n  disable_lockout = false\n  lockout_threshold = 10\n}\n",
			want: []UserLockout{{Type: "approle", Threshold: 10, Disable: &no, Line: 5}},
		},
		"json": {
			src: `{"storage": {"inmem": {}}, "listener": {"tcp": {"tls_disable": true}},
"user_lockout": {"all": {"lockout_threshold": 3, "lockout_duration": 60}}}`,
			want: []UserLockout{{Type: "all", Threshold: 3, Duration: time.Minute}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(tc.src), "config.hcl")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(s.UserLockouts)
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestParsePostgresStorage(t *testing.T) {
	t.Parallel()
	src := "storage \"postgresql\" {\n  connection_url = \"postgres://coffer:pw@db:5432/coffer\"\n  table = \"vault.kv\"\n  max_parallel = \"16\"\n  ha_enabled = true\n  ha_table = \"vault_ha_locks\"\n}\nlistener \"tcp\" {\n  tls_disable = true\n}\n"
	s, err := Parse([]byte(src), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := Storage{Type: StoragePostgres, ConnectionURL: "postgres://coffer:pw@db:5432/coffer", Table: "vault.kv", MaxParallel: 16, HAEnabled: true, HATable: "vault_ha_locks", Line: 1}
	if !reflect.DeepEqual(s.Storage, want) {
		t.Fatalf("storage = %+v, want %+v", s.Storage, want)
	}
	// Without connection_url, for the environment to supply it.
	s, err = Parse([]byte("storage \"postgresql\" {}\nlistener \"tcp\" {\n  tls_disable = true\n}\n"), "config.hcl")
	if err != nil || s.Storage.Type != StoragePostgres || s.Storage.ConnectionURL != "" {
		t.Fatalf("storage = %+v, %v", s.Storage, err)
	}
}
