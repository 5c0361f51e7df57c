package identity

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func ptr[T any](v T) *T { return &v }

func TestUpsertEntity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type want struct {
		err     error
		created bool
		name    string
	}
	cases := map[string]struct {
		setup func(h *harness) EntityUpdate
		want  want
	}{
		"create unnamed": {
			setup: func(*harness) EntityUpdate { return EntityUpdate{} },
			want:  want{created: true},
		},
		"create named": {
			setup: func(*harness) EntityUpdate { return EntityUpdate{Name: "svc"} },
			want:  want{created: true, name: "svc"},
		},
		"update by name": {
			setup: func(h *harness) EntityUpdate {
				h.mustUpsert(t, EntityUpdate{Name: "Svc"})
				return EntityUpdate{Name: "Svc", Disabled: ptr(true)}
			},
			want: want{name: "Svc"},
		},
		// Names are unique without case, but only the entity's own
		// spelling addresses it, so a policy on that name decides.
		"update by name in another case": {
			setup: func(h *harness) EntityUpdate {
				h.mustUpsert(t, EntityUpdate{Name: "svc"})
				return EntityUpdate{Name: "SVC", Disabled: ptr(true)}
			},
			want: want{err: logical.ErrInvalidRequest},
		},
		"update by id renames": {
			setup: func(h *harness) EntityUpdate {
				e := h.mustUpsert(t, EntityUpdate{Name: "old"})
				return EntityUpdate{ID: e.ID, Name: "new"}
			},
			want: want{name: "new"},
		},
		"unknown id": {
			setup: func(*harness) EntityUpdate { return EntityUpdate{ID: "nope"} },
			want:  want{err: ErrEntityNotFound},
		},
		"name taken by another": {
			setup: func(h *harness) EntityUpdate {
				h.mustUpsert(t, EntityUpdate{Name: "a"})
				e := h.mustUpsert(t, EntityUpdate{Name: "b"})
				return EntityUpdate{ID: e.ID, Name: "A"}
			},
			want: want{err: ErrNameInUse},
		},
		"root policy": {
			setup: func(*harness) EntityUpdate { return EntityUpdate{Policies: ptr([]string{"dev", "root"})} },
			want:  want{err: ErrRootPolicy},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			u := tc.setup(h)
			before := len(h.s.all())
			e, created, err := h.s.UpsertEntity(ctx, u)
			if !errors.Is(err, tc.want.err) {
				t.Fatalf("err = %v, want %v", err, tc.want.err)
			}
			if err != nil {
				if !errors.Is(err, logical.ErrInvalidRequest) || len(h.s.all()) != before {
					t.Fatalf("a refused write must be a 400 and change nothing: %v", err)
				}
				return
			}
			if created != tc.want.created || (tc.want.name != "" && e.Name != tc.want.name) || h.s.Entity(e.ID) != e {
				t.Fatalf("got %+v created=%v", e, created)
			}
		})
	}
}

func (h *harness) mustUpsert(t testing.TB, u EntityUpdate) *Entity {
	t.Helper()
	e, _, err := h.s.UpsertEntity(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEntityFieldsAndDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	e := h.login(t, "auth_userpass_1", "alice", nil)
	upd := h.mustUpsert(t, EntityUpdate{ID: e.ID, Metadata: ptr(map[string]string{"team": "a"}), Policies: ptr([]string{"b", "a", "b"})})
	if upd.Metadata["team"] != "a" || !slices.Equal(upd.Policies, []string{"a", "b"}) || upd.Alias("auth_userpass_1") == nil {
		t.Fatalf("update: %+v", upd)
	}
	if err := h.s.DeleteEntity(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if h.s.Entity(e.ID) != nil {
		t.Fatal("entity still there")
	}
	if got, _ := h.s.EntityByFactors("auth_userpass_1", "alice"); got != nil {
		t.Fatal("alias outlived its entity")
	}
	// A later login of the same alias makes a new entity.
	if n := h.login(t, "auth_userpass_1", "alice", nil); n.ID == e.ID {
		t.Fatal("login found a deleted entity")
	}
	if err := h.s.DeleteEntity(ctx, "never-there"); err != nil {
		t.Fatal(err)
	}
	if h.reload(t).Entity(e.ID) != nil {
		t.Fatal("deleted entity came back after reload")
	}
}

func TestUpsertAlias(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	ent := h.mustUpsert(t, EntityUpdate{Name: "svc"})
	other := h.mustUpsert(t, EntityUpdate{Name: "other"})

	a, e, err := h.s.UpsertAlias(ctx, AliasUpdate{MountAccessor: "auth_userpass_1", Name: "alice", CanonicalID: ent.ID,
		CustomMetadata: ptr(map[string]string{"namespace": "team-a"})})
	if err != nil || e.ID != ent.ID || a.CanonicalID != ent.ID || a.CustomMetadata["namespace"] != "team-a" {
		t.Fatalf("create: %+v %+v %v", a, e, err)
	}
	// A login of that alias finds the operator's entity.
	if got := h.login(t, "auth_userpass_1", "alice", nil); got.ID != ent.ID {
		t.Fatalf("login found %s, want %s", got.ID, ent.ID)
	}
	refused := map[string]struct {
		u    AliasUpdate
		want string
	}{
		"no factors":          {AliasUpdate{Name: "x"}, "'id' or 'mount_accessor' and 'name' must be provided"},
		"unknown accessor":    {AliasUpdate{MountAccessor: "auth_nope", Name: "x"}, `invalid mount accessor "auth_nope"`},
		"unknown canonical":   {AliasUpdate{MountAccessor: "auth_jwt_2", Name: "x", CanonicalID: "nope"}, "invalid canonical ID"},
		"second on mount":     {AliasUpdate{MountAccessor: "auth_userpass_1", Name: "bob", CanonicalID: ent.ID}, "Alias already exists for requested entity and mount accessor"},
		"unknown alias id":    {AliasUpdate{ID: "nope"}, "invalid alias ID provided"},
		"move to unknown":     {AliasUpdate{ID: a.ID, CanonicalID: "nope"}, "given 'canonical_id' is not associated with an entity"},
		"accessor to nowhere": {AliasUpdate{ID: a.ID, MountAccessor: "auth_nope"}, `invalid mount accessor "auth_nope"`},
	}
	for name, tc := range refused {
		_, _, err := h.s.UpsertAlias(ctx, tc.u)
		if !errors.Is(err, logical.ErrInvalidRequest) || err.Error() != tc.want {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Unchanged update: nothing to do.
	if a2, e2, err := h.s.UpsertAlias(ctx, AliasUpdate{ID: a.ID}); err != nil || a2 != nil || e2 != nil {
		t.Fatalf("no-op update: %v %v %v", a2, e2, err)
	}
	// Taken factors.
	bob, _, err := h.s.UpsertAlias(ctx, AliasUpdate{MountAccessor: "auth_userpass_1", Name: "bob", CanonicalID: other.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.s.UpsertAlias(ctx, AliasUpdate{ID: bob.ID, Name: "ALICE"}); !errors.Is(err, ErrAliasFactorsTaken) {
		t.Fatalf("rename onto alice: %v", err)
	}
	// Move alice to an entity that already has a userpass alias: refused.
	if _, _, err := h.s.UpsertAlias(ctx, AliasUpdate{ID: a.ID, CanonicalID: other.ID}); err == nil {
		t.Fatal("move onto an entity with an alias on the same mount")
	}
	// Move alice's alias on the jwt mount to other.
	j, _, err := h.s.UpsertAlias(ctx, AliasUpdate{MountAccessor: "auth_jwt_2", Name: "j", CanonicalID: ent.ID})
	if err != nil {
		t.Fatal(err)
	}
	moved, to, err := h.s.UpsertAlias(ctx, AliasUpdate{ID: j.ID, CanonicalID: other.ID})
	if err != nil || to.ID != other.ID || moved.CanonicalID != other.ID {
		t.Fatalf("move: %+v %+v %v", moved, to, err)
	}
	if h.s.Entity(ent.ID).Alias("auth_jwt_2") != nil || h.s.Entity(other.ID).Alias("auth_jwt_2") == nil {
		t.Fatal("alias not moved in memory")
	}
	r := h.reload(t)
	if r.Entity(ent.ID).Alias("auth_jwt_2") != nil || r.Entity(other.ID).Alias("auth_jwt_2").ID != j.ID {
		t.Fatal("alias not moved in storage")
	}
	if err := h.s.DeleteAlias(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if e, _ := h.s.EntityByAlias(a.ID); e != nil || h.s.Entity(ent.ID) == nil {
		t.Fatal("alias delete: alias remains or entity went")
	}
}

func TestTemplateValue(t *testing.T) {
	t.Parallel()
	e := &Entity{ID: "e1", Name: "svc", Metadata: map[string]string{"team": "a", "empty": ""}, Aliases: []*Alias{{
		ID: "a1", MountAccessor: "auth_k8s_1", Name: "uid-1",
		Metadata:       map[string]string{"service_account_namespace": "ns1"},
		CustomMetadata: map[string]string{"tier": "gold"},
	}}}
	cases := map[string]struct {
		val string
		ok  bool
	}{
		"identity.entity.id":                                                    {"e1", true},
		"identity.entity.name":                                                  {"svc", true},
		"identity.entity.metadata.team":                                         {"a", true},
		"identity.entity.metadata.empty":                                        {"", false},
		"identity.entity.metadata.missing":                                      {"", false},
		"identity.entity.aliases.auth_k8s_1.id":                                 {"a1", true},
		"identity.entity.aliases.auth_k8s_1.name":                               {"uid-1", true},
		"identity.entity.aliases.auth_k8s_1.metadata.service_account_namespace": {"ns1", true},
		"identity.entity.aliases.auth_k8s_1.custom_metadata.tier":               {"gold", true},
		"identity.entity.aliases.auth_k8s_1.metadata.tier":                      {"", false},
		"identity.entity.aliases.auth_other.name":                               {"", false},
		"identity.entity.aliases.auth_k8s_1":                                    {"", false},
		"identity.entity.aliases.auth_k8s_1.mount_accessor":                     {"", false},
		"identity.entity.groups.names":                                          {"", false},
		"identity.groups.names.g.id":                                            {"", false},
		"time.now":                                                              {"", false},
		"identity.entity.metadata":                                              {"", false},
		"":                                                                      {"", false},
	}
	for dir, want := range cases {
		if v, ok := e.TemplateValue(dir); v != want.val || ok != want.ok {
			t.Errorf("%q = %q, %v; want %q, %v", dir, v, ok, want.val, want.ok)
		}
	}
	var none *Entity
	if _, ok := none.TemplateValue("identity.entity.id"); ok {
		t.Fatal("a nil entity resolved a directive")
	}
}

func FuzzTemplateValue(f *testing.F) {
	for _, s := range []string{"identity.entity.id", "identity.entity.aliases.a.metadata.k", "identity.entity.aliases..", "identity.entity.metadata."} {
		f.Add(s)
	}
	e := &Entity{ID: "e", Name: "n", Metadata: map[string]string{"k": "v"}, Aliases: []*Alias{{ID: "x", MountAccessor: "a", Name: "m", Metadata: map[string]string{"k": "v"}}}}
	f.Fuzz(func(t *testing.T, dir string) {
		if v, ok := e.TemplateValue(dir); ok != (v != "") {
			t.Fatalf("%q: ok=%v with value %q", dir, ok, v)
		}
	})
}
