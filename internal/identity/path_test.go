package identity

import (
	"errors"
	"slices"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestEntityRoutes drives identity/entity as a client would and checks
// Vault's shapes.
func TestEntityRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.mustDo(t, logical.UpdateOperation, "entity", map[string]any{
		"name": "svc", "metadata": []any{"team=a", "tier=gold"}, "policies": "Dev, ops", "disabled": false,
	})
	id, _ := r.Data["id"].(string)
	if id == "" || r.Data["name"] != "svc" {
		t.Fatalf("create: %+v", r.Data)
	}
	// An update answers 204 (nil).
	if r := h.mustDo(t, logical.UpdateOperation, "entity/id/"+id, map[string]any{"metadata": map[string]any{"team": "b"}}); r != nil {
		t.Fatalf("update answered %+v", r)
	}
	// A name in another case than the entity's is refused, for every
	// operation, so that a policy on entity/name/svc is not stepped around.
	for _, op := range []logical.Operation{logical.ReadOperation, logical.UpdateOperation, logical.DeleteOperation} {
		if _, err := h.do(op, "entity/name/SVC", map[string]any{"policies": "admin"}); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%s entity/name/SVC: %v", op, err)
		}
	}
	if _, err := h.do(logical.UpdateOperation, "entity", map[string]any{"name": "SVC", "policies": "admin"}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("update by the body name SVC: %v", err)
	}
	for _, path := range []string{"entity/id/" + id, "entity/name/svc"} {
		r := h.mustDo(t, logical.ReadOperation, path, nil)
		d := r.Data
		if d["id"] != id || d["name"] != "svc" || d["namespace_id"] != "root" || d["disabled"] != false ||
			!slices.Equal(d["policies"].([]string), []string{"dev", "ops"}) || d["metadata"].(map[string]string)["team"] != "b" ||
			len(d["aliases"].([]any)) != 0 || d["creation_time"] == "" {
			t.Fatalf("read %s: %+v", path, d)
		}
	}
	// Upsert by name creates.
	r = h.mustDo(t, logical.UpdateOperation, "entity/name/second", map[string]any{"policies": "x"})
	if r == nil || r.Data["name"] != "second" {
		t.Fatalf("create by name: %+v", r)
	}
	list := h.mustDo(t, logical.ListOperation, "entity/name/", nil)
	if !slices.Equal(list.Data["keys"].([]string), []string{"second", "svc"}) {
		t.Fatalf("list names: %+v", list.Data)
	}
	list = h.mustDo(t, logical.ListOperation, "entity/id/", nil)
	if len(list.Data["keys"].([]string)) != 2 || list.Data["key_info"].(map[string]any)[id].(map[string]any)["name"] != "svc" {
		t.Fatalf("list ids: %+v", list.Data)
	}
	for name, body := range map[string]map[string]any{
		"root policy": {"name": "x", "policies": "root"},
		"bad meta":    {"name": "x", "metadata": []any{"novalue"}},
		"name taken":  {"id": id, "name": "second"},
		"unknown id":  {"id": "nope"},
	} {
		if _, err := h.do(logical.UpdateOperation, "entity", body); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	h.mustDo(t, logical.DeleteOperation, "entity/name/second", nil)
	h.mustDo(t, logical.DeleteOperation, "entity/id/"+id, nil)
	if r, err := h.do(logical.ReadOperation, "entity/id/"+id, nil); r != nil || err != nil {
		t.Fatalf("read after delete: %+v %v", r, err)
	}
	if r, err := h.do(logical.ListOperation, "entity/id/", nil); r != nil || err != nil {
		t.Fatalf("empty list must be a 404 (nil): %+v %v", r, err)
	}
}

func TestAliasRoutesAndLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.mustDo(t, logical.UpdateOperation, "entity-alias", map[string]any{
		"name": "alice", "mount_accessor": "auth_userpass_1", "custom_metadata": map[string]any{"namespace": "team-a"},
	})
	aliasID, entityID := r.Data["id"].(string), r.Data["canonical_id"].(string)
	if aliasID == "" || entityID == "" {
		t.Fatalf("create: %+v", r.Data)
	}
	a := h.mustDo(t, logical.ReadOperation, "entity-alias/id/"+aliasID, nil).Data
	if a["name"] != "alice" || a["canonical_id"] != entityID || a["mount_path"] != "auth/userpass/" || a["mount_type"] != "userpass" ||
		a["custom_metadata"].(map[string]string)["namespace"] != "team-a" || a["namespace_id"] != "root" {
		t.Fatalf("read alias: %+v", a)
	}
	// entity_id is the older name of canonical_id.
	other := h.mustDo(t, logical.UpdateOperation, "entity", map[string]any{"name": "other"}).Data["id"].(string)
	r = h.mustDo(t, logical.UpdateOperation, "entity-alias/id/"+aliasID, map[string]any{"entity_id": other})
	if r.Data["canonical_id"] != other {
		t.Fatalf("move by entity_id: %+v", r.Data)
	}
	l := h.mustDo(t, logical.ListOperation, "entity-alias/id/", nil).Data
	if !slices.Equal(l["keys"].([]string), []string{aliasID}) {
		t.Fatalf("list: %+v", l)
	}
	for name, q := range map[string]map[string]any{
		"id":       {"id": other},
		"name":     {"name": "OTHER"},
		"alias_id": {"alias_id": aliasID},
		"factors":  {"alias_name": "Alice", "alias_mount_accessor": "auth_userpass_1"},
	} {
		r := h.mustDo(t, logical.UpdateOperation, "lookup/entity", q)
		if r == nil || r.Data["id"] != other || len(r.Data["aliases"].([]any)) != 1 {
			t.Errorf("lookup by %s: %+v", name, r)
		}
	}
	if r := h.mustDo(t, logical.UpdateOperation, "lookup/entity", map[string]any{"name": "nobody"}); r != nil {
		t.Fatalf("lookup of nobody: %+v", r)
	}
	for name, tc := range map[string]struct {
		q    map[string]any
		want error
	}{
		"none":          {map[string]any{}, ErrLookupNoQuery},
		"two":           {map[string]any{"id": "a", "name": "b"}, ErrLookupConflict},
		"name only":     {map[string]any{"alias_name": "a"}, ErrLookupAliasPair},
		"accessor only": {map[string]any{"alias_mount_accessor": "a"}, ErrLookupAliasPair},
		"pair and id":   {map[string]any{"alias_name": "a", "alias_mount_accessor": "b", "id": "c"}, ErrLookupConflict},
	} {
		if _, err := h.do(logical.UpdateOperation, "lookup/entity", tc.q); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, body := range map[string]map[string]any{
		"too many pairs": {"name": "z", "mount_accessor": "auth_jwt_2", "custom_metadata": manyPairs(65)},
		"unprintable":    {"name": "z", "mount_accessor": "auth_jwt_2", "custom_metadata": map[string]any{"k": "a\x01"}},
	} {
		if _, err := h.do(logical.UpdateOperation, "entity-alias", body); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	h.mustDo(t, logical.DeleteOperation, "entity-alias/id/"+aliasID, nil)
	if r, _ := h.do(logical.ReadOperation, "entity-alias/id/"+aliasID, nil); r != nil {
		t.Fatalf("alias read after delete: %+v", r)
	}
}

func manyPairs(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	return m
}
