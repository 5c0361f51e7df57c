package lockout

import (
	"context"
	"fmt"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// BenchmarkGuard measures what user lockout adds to a login the backend
// answers at once (a real login spends far longer in bcrypt): direct is the
// backend alone, success a login that succeeds, failure a wrong password
// for one of 10,000 names (counters churn but nothing locks).
func BenchmarkGuard(b *testing.B) {
	ctx := context.Background()
	g := NewGuard(Policy{Stanzas: map[string]Settings{"all": {Threshold: 1 << 30}}}, fakeMounts{}, NewTracker(logical.NewInmemStorage(), Options{}))
	be := &fakeLogin{}
	req := func(name, pw string) *logical.Request {
		return &logical.Request{Operation: logical.UpdateOperation, Path: "login/" + name, Unauthenticated: true,
			MountAccessor: "acc", Data: map[string]any{"password": pw}}
	}
	b.Run("direct", func(b *testing.B) {
		r := req("alice", "secret")
		for b.Loop() {
			_, _ = be.HandleRequest(ctx, r)
		}
	})
	b.Run("success", func(b *testing.B) {
		r := req("alice", "secret")
		for b.Loop() {
			if _, err := g.Run(ctx, be, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("failure", func(b *testing.B) {
		reqs := make([]*logical.Request, 10000)
		for i := range reqs {
			reqs[i] = req(fmt.Sprintf("user-%d", i), "wrong")
		}
		i := 0
		for b.Loop() {
			_, _ = g.Run(ctx, be, reqs[i%len(reqs)])
			i++
		}
	})
}
