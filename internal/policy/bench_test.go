package policy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func benchACL(b *testing.B) *ACL {
	return mustACL(b,
		DefaultPolicy,
		rule("secret/data/app/*", "read", "list"),
		rule("secret/metadata/app/*", "list"),
		rule("secret/data/+/shared", "read"),
		rule("database/creds/app", "read"),
		rule("sys/*", "deny"),
	)
}

func BenchmarkAllowedExact(b *testing.B) {
	acl := benchACL(b)
	b.ReportAllocs()
	for b.Loop() {
		acl.Allowed(logical.ReadOperation, "database/creds/app")
	}
}

func BenchmarkAllowedGlob(b *testing.B) {
	acl := benchACL(b)
	b.ReportAllocs()
	for b.Loop() {
		acl.Allowed(logical.ReadOperation, "secret/data/app/config/db")
	}
}

func BenchmarkAllowedWildcard(b *testing.B) {
	acl := benchACL(b)
	b.ReportAllocs()
	for b.Loop() {
		acl.Allowed(logical.ReadOperation, "secret/data/team/shared")
	}
}

func BenchmarkAllowedMiss(b *testing.B) {
	acl := benchACL(b)
	b.ReportAllocs()
	for b.Loop() {
		acl.Allowed(logical.ReadOperation, "transit/keys/unknown/thing")
	}
}

func BenchmarkParseDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(DefaultName, DefaultPolicy); err != nil {
			b.Fatal(err)
		}
	}
}

func paramACL(b *testing.B) *ACL {
	return mustACL(b, `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "token_policies" = ["dev-*"]
    "password" = []
    "token_ttl" = []
  }
  denied_parameters = {
    "token_policies" = ["admin*"]
  }
}
`)
}

// BenchmarkAllowedParamsRaw checks a write against parameter rules with the
// raw body (no route schema to ask).
func BenchmarkAllowedParamsRaw(b *testing.B) {
	acl := paramACL(b)
	data := map[string]any{"token_policies": "dev-a,dev-b", "password": "pw", "token_ttl": json.Number("60")}
	b.ReportAllocs()
	for b.Loop() {
		if !acl.AllowedData(logical.UpdateOperation, "auth/userpass/users/alice", data).Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkAllowedParamsParsed checks the same write with the parameters as
// a route's schema hands them over (the core's path).
func BenchmarkAllowedParamsParsed(b *testing.B) {
	acl := paramACL(b)
	ps := []logical.Param{
		{Names: []string{"token_policies", "policies"}, Values: []any{"dev-a", "dev-b"}, Normalize: lowerElem},
		{Names: []string{"password"}, Values: []any{"pw"}},
		{Names: []string{"token_ttl", "ttl"}, Values: []any{time.Minute}, Normalize: seconds},
	}
	params := func() ([]logical.Param, error) { return ps, nil }
	b.ReportAllocs()
	for b.Loop() {
		if res, _ := acl.AllowedParams(logical.UpdateOperation, "auth/userpass/users/alice", params); !res.Allowed {
			b.Fatal("denied")
		}
	}
}
