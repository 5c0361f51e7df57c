package quota

import (
	"context"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// BenchmarkAllowNoQuota is the cost every request pays on a server with no
// quotas: it must stay an atomic load with no allocation.
func BenchmarkAllowNoQuota(b *testing.B) {
	m := New(logical.NewInmemStorage())
	b.ReportAllocs()
	for b.Loop() {
		m.Allow("secret/data/app/db", "192.0.2.1")
	}
}

// BenchmarkTakeNoQuota is what the core pays per request on a server with
// no quotas: Take must inline to that same atomic load.
func BenchmarkTakeNoQuota(b *testing.B) {
	m := New(logical.NewInmemStorage())
	b.ReportAllocs()
	for b.Loop() {
		m.Take("secret/data/app/db", "192.0.2.1")
	}
}

// BenchmarkAllowKnownClient is the cost under a quota for a client already
// tracked: a scan of the rules, one lock and one token bucket.
func BenchmarkAllowKnownClient(b *testing.B) {
	m := New(logical.NewInmemStorage())
	for _, q := range []Quota{{Name: "g", Rate: 1e9}, {Name: "m", Path: "secret/", Rate: 1e9}, {Name: "o", Path: "other/", Rate: 1e9}} {
		if err := m.Put(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Allow("secret/data/app/db", "192.0.2.1")
	}
}
