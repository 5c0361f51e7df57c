package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	if full, err := os.ReadFile(filepath.Join("testdata", "full.hcl")); err == nil {
		f.Add(string(full))
	}
	for _, s := range []string{
		"storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true }\n",
		`{"storage": {"file": {"path": "/d"}}, "listener": {"tcp": {"tls_disable": "1"}}}`,
		"storage \"file\" { path = <<EOT\n/x\nEOT\n}\n",
		"max_lease_ttl = 99999999999999999999",
		"listner \"tcp\" {}",
		"storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true\n x_forwarded_for_authorized_addrs = \"10.0.0.0/8,::1\"\n x_forwarded_for_hop_skips = 1 }\n",
		"storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = true\n x_forwarded_for_authorized_addrs = [\"fe80::1%eth0\", 7] }\n",
		"user_lockout \"all\" { lockout_threshold = \"25\"\n lockout_duration = \"5m\"\n disable_lockout = 1 }\n",
		"user_lockout \"userpass\" { lockout_counter_reset = 99999999999999999999 }",
		`{"user_lockout": {"ldap": {"lockout_threshold": -1}}}`,
		"{\"\\0",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse([]byte(src), "fuzz.hcl")
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Kind == nil {
				t.Fatalf("error is not a typed *Error: %T %v", err, err)
			}
			return
		}
		if s.Storage.Type == "" || len(s.Listeners) == 0 {
			t.Fatalf("accepted a config without storage or listener: %+v", s)
		}
		for _, l := range s.Listeners {
			if !l.TLSDisable && (l.TLSCertFile == "" || l.TLSKeyFile == "") {
				t.Fatalf("accepted a TLS listener without certificate: %+v", l)
			}
			f := l.ForwardedFor
			if f.HopSkips < 0 || (!f.Enabled() && (f.HopSkips > 0 || f.RejectNotAuthorized || f.RejectNotPresent)) {
				t.Fatalf("accepted X-Forwarded-For settings that cannot act: %+v", f)
			}
			for _, p := range f.AuthorizedAddrs {
				if !p.IsValid() || p != p.Masked() {
					t.Fatalf("accepted a non-canonical authorised address %v", p)
				}
			}
		}
		if s.DefaultLeaseTTL <= 0 || s.DefaultLeaseTTL > s.MaxLeaseTTL {
			t.Fatalf("bad lease TTLs: %v %v", s.DefaultLeaseTTL, s.MaxLeaseTTL)
		}
		seen := map[string]bool{}
		for _, ul := range s.UserLockouts {
			if !slices.Contains(UserLockoutTypes, ul.Type) || seen[ul.Type] || ul.Duration < 0 || ul.CounterReset < 0 {
				t.Fatalf("accepted a bad user_lockout block: %+v", ul)
			}
			seen[ul.Type] = true
		}
	})
}
