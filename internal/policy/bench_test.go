package policy

import (
	"testing"

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
