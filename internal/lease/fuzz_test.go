package lease

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// guardedStorage fails the test when the manager touches a key outside
// its three prefixes or one that is not a clean path.
type guardedStorage struct {
	*logical.InmemStorage
	t *testing.T
}

func (g guardedStorage) check(key string) {
	if !strings.HasPrefix(key, idPrefix) && !strings.HasPrefix(key, expPrefix) && !strings.HasPrefix(key, tokenPrefix) {
		g.t.Fatalf("key %q is outside the manager's prefixes", key)
	}
	if c, err := logical.CleanPath(key); err != nil || (c != key && c+"/" != key) {
		g.t.Fatalf("key %q is not a clean path", key)
	}
}

func (g guardedStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	g.check(key)
	return g.InmemStorage.Get(ctx, key)
}

func (g guardedStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	g.check(e.Key)
	return g.InmemStorage.Put(ctx, e)
}

func (g guardedStorage) Delete(ctx context.Context, key string) error {
	g.check(key)
	return g.InmemStorage.Delete(ctx, key)
}

func (g guardedStorage) List(ctx context.Context, prefix string) ([]string, error) {
	g.check(prefix)
	return g.InmemStorage.List(ctx, prefix)
}

func (g guardedStorage) Transaction(ctx context.Context, ops []logical.TxnOp) error {
	for _, op := range ops {
		g.check(op.Entry.Key)
	}
	return g.InmemStorage.Transaction(ctx, ops)
}

// FuzzLeaseID feeds arbitrary lease IDs and prefixes, as clients send them,
// to every entry point: none may panic or reach a key outside the
// manager's own, and an ID that does not name a lease changes nothing.
func FuzzLeaseID(f *testing.F) {
	for _, s := range []string{
		"db/creds/app/x", "db/creds/app/", "db/", "db", "", "/", "//", "../", "db/../../core/mounts",
		"db//creds", "./db", "db/creds/app/x/", "\x00", "db/\x7f", "token/abc", "exp/", "ü/ñ", strings.Repeat("a/", 50),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		h := newHarness(t)
		h.storage = logical.NewInmemStorage()
		h.m = h.newManager(guardedStorage{InmemStorage: h.storage, t: t})
		sec, user := h.issue("creds", Owner{Token: "70c"}, nil)
		before := h.keys()
		ctx := context.Background()
		_, _ = h.m.Lookup(ctx, id)
		_, _ = h.m.Renew(ctx, id, time.Minute)
		_, _ = h.m.List(ctx, id)
		_, _ = h.m.RevokeByToken(ctx, id)
		if id != sec.LeaseID && !strings.HasPrefix(sec.LeaseID, strings.TrimSuffix(id, "/")+"/") {
			_ = h.m.Revoke(ctx, id)
			_ = h.m.RevokeLater(ctx, id)
			_, _ = h.m.RevokePrefix(ctx, id, true, true)
			_, _ = h.m.MovePrefix(ctx, id, "elsewhere/")
			if !h.eng.Live(user) {
				t.Fatalf("%q revoked an unrelated lease", id)
			}
		}
		if id == "70c" {
			return // RevokeByToken of the owner changes the lease, rightly
		}
		after := h.keys()
		if len(before) != len(after) {
			t.Fatalf("%q changed the stored keys: %q → %q", id, before, after)
		}
	})
}

// FuzzParseIndexName checks that any key name either decodes to something
// that encodes back to it, or is refused.
func FuzzParseIndexName(f *testing.F) {
	f.Add(indexName(t0, flagExpiry, "db/creds/app/x"))
	f.Add(indexName(t0, flagRetry, ""))
	f.Add("0000000000000000e")
	f.Add("ffffffffffffffffrAA")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, name string) {
		at, flag, id, err := parseIndexName(name)
		if err != nil {
			return
		}
		if again := indexName(time.Unix(0, at), flag, id); again != name && strings.ToLower(name[:16]) == name[:16] {
			// Only canonical names (lower-case hex, unpadded base64) round-trip.
			if _, _, id2, _ := parseIndexName(again); id2 != id {
				t.Fatalf("%q → %q → %q", name, again, id2)
			}
		}
	})
}
