package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestWrappingTTLBounds checks min_wrapping_ttl and max_wrapping_ttl as
// Vault enforces them, alone and merged from two policies (the lesser of
// each bound wins; bounds that contradict each other allow nothing).
func TestWrappingTTLBounds(t *testing.T) {
	t.Parallel()
	bounded := `path "auth/approle/role/x/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = "5m"
}`
	maxOnly := `path "kv/*" {
  capabilities = ["read"]
  max_wrapping_ttl = 600
}`
	minHigh := `path "auth/approle/role/x/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "10m"
}`
	maxLow := `path "auth/approle/role/x/secret-id" {
  capabilities = ["update"]
  max_wrapping_ttl = "1m"
}`
	cases := map[string]struct {
		policies []string
		op       logical.Operation
		path     string
		ttl      time.Duration
		want     bool
	}{
		"not wrapped":           {[]string{bounded}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 0, false},
		"below the minimum":     {[]string{bounded}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 29 * time.Second, false},
		"at the minimum":        {[]string{bounded}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 30 * time.Second, true},
		"at the maximum":        {[]string{bounded}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 5 * time.Minute, true},
		"above the maximum":     {[]string{bounded}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 301 * time.Second, false},
		"max only, unwrapped":   {[]string{maxOnly}, logical.ReadOperation, "kv/a", 0, false},
		"max only, wrapped":     {[]string{maxOnly}, logical.ReadOperation, "kv/a", time.Minute, true},
		"merged: lesser max":    {[]string{bounded, maxLow}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 2 * time.Minute, false},
		"merged: within both":   {[]string{bounded, maxLow}, logical.UpdateOperation, "auth/approle/role/x/secret-id", 45 * time.Second, true},
		"merged: contradiction": {[]string{minHigh, maxLow}, logical.UpdateOperation, "auth/approle/role/x/secret-id", time.Minute, false},
		"other path unaffected": {[]string{bounded, `path "kv/b" { capabilities = ["read"] }`}, logical.ReadOperation, "kv/b", 0, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := mustACL(t, tc.policies...).Allowed(tc.op, tc.path)
			if got := res.Allowed && res.WrapTTLAllowed(tc.ttl); got != tc.want {
				t.Fatalf("allowed = %v (%+v), want %v", got, res, tc.want)
			}
		})
	}
	if root := NewACL(Root()).Allowed(logical.UpdateOperation, "x"); !root.WrapTTLAllowed(0) {
		t.Fatal("root is bound by wrapping rules")
	}
}

func TestResponseWrappingPolicyReserved(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"response-wrapping", " Response-Wrapping "} {
		if err := CheckWrite(name); !errors.Is(err, ErrResponseWrappingPolicy) {
			t.Fatalf("write %q: %v", name, err)
		}
		if err := CheckDelete(name); !errors.Is(err, ErrResponseWrappingPolicy) {
			t.Fatalf("delete %q: %v", name, err)
		}
	}
	p, err := Parse(ResponseWrappingName, ResponseWrappingPolicy)
	if err != nil {
		t.Fatal(err)
	}
	acl := NewACL(p)
	for path, op := range map[string]logical.Operation{"cubbyhole/response": logical.UpdateOperation, "sys/wrapping/rewrap": logical.UpdateOperation, "sys/wrapping/wrap": logical.UpdateOperation} {
		if acl.Allowed(op, path).Allowed {
			t.Fatalf("a wrapping token may %s %s", op, path)
		}
	}
	if !acl.Allowed(logical.UpdateOperation, "sys/wrapping/unwrap").Allowed || !acl.Allowed(logical.ReadOperation, "cubbyhole/response").Allowed {
		t.Fatal("a wrapping token cannot unwrap itself")
	}
}
