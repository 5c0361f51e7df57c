package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestLoginCreatesThenFinds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e1 := h.login(t, "auth_userpass_1", "alice", map[string]string{"namespace": "team-a"})
	if e1.ID == "" || e1.Name != "entity_"+e1.ID[:8] || len(e1.Aliases) != 1 {
		t.Fatalf("new entity: %+v", e1)
	}
	a := e1.Aliases[0]
	if a.MountAccessor != "auth_userpass_1" || a.Name != "alice" || a.CanonicalID != e1.ID || a.Metadata["namespace"] != "team-a" {
		t.Fatalf("alias: %+v", a)
	}
	e2 := h.login(t, "auth_userpass_1", "ALICE", map[string]string{"namespace": "team-a"})
	if e2 != e1 {
		t.Fatalf("second login gave another entity (or a needless rewrite): %p %p", e1, e2)
	}
	other := h.login(t, "auth_jwt_2", "alice", nil)
	if other.ID == e1.ID {
		t.Fatal("an alias on another mount must not find alice's entity")
	}
	// The method reports new metadata: the alias follows, with a new revision.
	e3 := h.login(t, "auth_userpass_1", "alice", map[string]string{"namespace": "team-b"})
	if e3.ID != e1.ID || e3.Alias("auth_userpass_1").Metadata["namespace"] != "team-b" || e3.Revision() == e1.Revision() {
		t.Fatalf("metadata update: %+v rev %d vs %d", e3.Alias("auth_userpass_1"), e3.Revision(), e1.Revision())
	}
	if e1.Aliases[0].Metadata["namespace"] != "team-a" {
		t.Fatal("a published entity was modified in place")
	}
	// Persisted: a reload sees the same entity and alias.
	r := h.reload(t)
	got, ga := r.EntityByFactors("auth_userpass_1", "alice")
	if got == nil || got.ID != e1.ID || ga.Metadata["namespace"] != "team-b" || r.Entity(other.ID) == nil {
		t.Fatalf("after reload: %+v %+v", got, ga)
	}
}

func TestLoginRefusesEmptyAlias(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for name, a := range map[string]*logical.Alias{"nil": nil, "empty name": {}} {
		if _, err := h.s.Login(context.Background(), "auth_userpass_1", a); !errors.Is(err, ErrNoAliasName) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestConcurrentFirstLogins: many first logins of one alias at once make
// one entity; logins of different aliases make one each.
func TestConcurrentFirstLogins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 32
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, err := h.s.Login(context.Background(), "auth_userpass_1", &logical.Alias{Name: "bob"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = e.ID
		})
		wg.Go(func() {
			if _, err := h.s.Login(context.Background(), "auth_userpass_1", &logical.Alias{Name: fmt.Sprintf("user-%d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("two entities for one alias: %s and %s", ids[0], id)
		}
	}
	if got := len(h.s.all()); got != n+1 {
		t.Fatalf("%d entities, want %d", got, n+1)
	}
	keys, err := h.storage.List(context.Background(), entityPrefix)
	if err != nil || len(keys) != n+1 {
		t.Fatalf("stored %d entities (%v), want %d", len(keys), err, n+1)
	}
	if got := len(h.reload(t).all()); got != n+1 {
		t.Fatalf("after reload %d entities", got)
	}
}

// TestFailedWritePublishesNothing: when storage refuses the write, the
// login fails and no entity appears in memory either.
func TestFailedWritePublishesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.storage.fail.Store(true)
	if _, err := h.s.Login(context.Background(), "auth_userpass_1", &logical.Alias{Name: "carol"}); !errors.Is(err, errInjected) {
		t.Fatalf("login: %v", err)
	}
	if e, _ := h.s.EntityByFactors("auth_userpass_1", "carol"); e != nil || len(h.s.all()) != 0 {
		t.Fatalf("entity published despite the failed write: %+v", e)
	}
	if _, _, err := h.s.UpsertEntity(context.Background(), EntityUpdate{Name: "x"}); !errors.Is(err, errInjected) || h.s.EntityByName("x") != nil {
		t.Fatalf("upsert: %v", err)
	}
}

func TestLoadSkipsBadEntries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.login(t, "auth_userpass_1", "alice", nil)
	ctx := context.Background()
	for k, v := range map[string]string{
		entityPrefix + "garbage":  "{not json",
		entityPrefix + "wrong-id": `{"id":"other","name":"n"}`,
		entityPrefix + "dup-name": `{"id":"dup-name","name":"` + good.Name + `"}`,
	} {
		if err := h.storage.InmemStorage.Put(ctx, &logical.StorageEntry{Key: k, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	r := h.reload(t)
	// Of two entities with one name, exactly one is loaded.
	if all := r.all(); len(all) != 1 || (r.Entity("dup-name") != nil) == (r.Entity(good.ID) != nil) {
		t.Fatalf("loaded %d entities", len(all))
	}
	if r.Entity("wrong-id") != nil || r.Entity("other") != nil || r.Entity("garbage") != nil {
		t.Fatal("a corrupt entry was loaded")
	}
}
