package e2e

import (
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestEntityNamePolicyHolds: a token allowed identity/entity/name/* but
// denied identity/entity/name/boss cannot change the entity "boss" another
// way. Before, the path's name was matched without case ("BOSS" reached
// "boss") and a body "id" chose the entity whatever the path said, so the
// token could give "boss", and every login of its users, any policy.
func TestEntityNamePolicyHolds(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := s.client.Logical()
	if _, err := c.Write("identity/entity/name/boss", map[string]any{"policies": "dev"}); err != nil {
		t.Fatal(err)
	}
	boss, err := c.Read("identity/entity/name/boss")
	if err != nil || boss == nil {
		t.Fatalf("read boss: %v", err)
	}
	id := boss.Data["id"].(string)
	if err := s.client.Sys().PutPolicy("entity-admin", `
path "identity/entity/name/*" { capabilities = ["create", "read", "update", "delete"] }
path "identity/entity/name/boss" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"entity-admin"}})
	if err != nil {
		t.Fatal(err)
	}
	as := s.as(t, tok.Auth.ClientToken).Logical()
	attempts := map[string]map[string]any{
		"identity/entity/name/BOSS":     {"policies": "admin"},
		"identity/entity/name/Boss":     {"policies": "admin"},
		"identity/entity/name/whatever": {"id": id, "policies": "admin"},
	}
	for path, body := range attempts {
		if _, err := as.Write(path, body); err != nil && statusOf(err) != 400 {
			t.Fatalf("write %s: %v, want 400 or a write to another entity", path, err)
		}
	}
	if _, err := as.Delete("identity/entity/name/BOSS"); statusOf(err) != 400 {
		t.Fatalf("delete identity/entity/name/BOSS: %v, want 400", err)
	}
	after, err := c.Read("identity/entity/id/" + id)
	if err != nil || after == nil {
		t.Fatalf("boss is gone: %v", err)
	}
	if after.Data["name"] != "boss" || len(after.Data["policies"].([]any)) != 1 || after.Data["policies"].([]any)[0] != "dev" {
		t.Fatalf("boss was changed through a path its policy denies: %v", after.Data)
	}
}
