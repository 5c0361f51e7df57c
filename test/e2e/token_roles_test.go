package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestTokenRoles drives auth/token/roles and create/<role> with the
// published client, as a caller that holds neither sudo nor the role's
// policies: the role, not the caller, decides what the token may be.
func TestTokenRoles(t *testing.T) {
	t.Parallel()
	s := start(t)
	tokens := s.client.Auth().Token()
	if _, err := s.client.Logical().Write("auth/token/roles/ci", map[string]any{
		"allowed_policies": "ci-read,ci-write", "disallowed_policies_glob": "admin*", "orphan": true,
		"token_period": "1h", "path_suffix": "v002", "token_bound_cidrs": "127.0.0.1,::1",
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	role, err := s.client.Logical().Read("auth/token/roles/ci")
	if err != nil || role == nil {
		t.Fatalf("read role: %+v %v", role, err)
	}
	want := map[string]any{"name": "ci", "orphan": true, "renewable": true, "token_type": "default-service", "path_suffix": "v002",
		"token_period": json.Number("3600"), "period": json.Number("0")}
	for k, v := range want {
		if role.Data[k] != v {
			t.Errorf("role %s = %#v, want %#v", k, role.Data[k], v)
		}
	}
	if l, err := s.client.Logical().List("auth/token/roles"); err != nil || l == nil || !slices.Contains(l.Data["keys"].([]any), any("ci")) {
		t.Fatalf("list roles: %+v %v", l, err)
	}

	if err := s.client.Sys().PutPolicy("ci-minter", `path "auth/token/create/ci" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	minter, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"ci-minter"}})
	if err != nil {
		t.Fatal(err)
	}
	mc := s.as(t, minter.Auth.ClientToken).Auth().Token()
	got, err := mc.CreateWithRole(&api.TokenCreateRequest{Policies: []string{"ci-read"}, TTL: "5h"}, "ci")
	if err != nil {
		t.Fatalf("create against the role: %v", err)
	}
	if !got.Auth.Orphan || !slices.Equal(got.Auth.Policies, []string{"ci-read", "default"}) || got.Auth.LeaseDuration != 3600 {
		t.Fatalf("role token: %+v", got.Auth)
	}
	look, err := tokens.Lookup(got.Auth.ClientToken)
	if err != nil || look.Data["path"] != "auth/token/create/ci/v002" || look.Data["role"] != "ci" || look.Data["period"] != json.Number("3600") {
		t.Fatalf("role token lookup: %+v %v", look, err)
	}
	if r, err := s.as(t, got.Auth.ClientToken).Auth().Token().RenewSelf(0); err != nil || r.Auth.LeaseDuration != 3600 {
		t.Fatalf("periodic role token renewal: %+v %v", r, err)
	}
	for name, req := range map[string]*api.TokenCreateRequest{
		"not allowed": {Policies: []string{"ops"}},
		"disallowed":  {Policies: []string{"admin-x"}},
	} {
		if _, err := mc.CreateWithRole(req, "ci"); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := mc.Create(&api.TokenCreateRequest{Policies: []string{"ci-read"}}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("plain create outside the role: %v", err)
	}

	if _, err := s.client.Logical().Delete("auth/token/roles/ci"); err != nil {
		t.Fatal(err)
	}
	_, err = mc.CreateWithRole(&api.TokenCreateRequest{}, "ci")
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "unknown role ci") {
		t.Fatalf("create against a deleted role: %v", err)
	}
	if _, err := s.as(t, got.Auth.ClientToken).Auth().Token().RenewSelf(0); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("renewal of a deleted role's token: %v", err)
	}
}

// TestTokenRoleLegacyNames: the older field names are accepted and read
// back under both names; nonsense is a 400 that stores nothing.
func TestTokenRoleLegacyNames(t *testing.T) {
	t.Parallel()
	s := start(t)
	if _, err := s.client.Logical().Write("auth/token/roles/old", map[string]any{
		"period": "30m", "explicit_max_ttl": "2h", "bound_cidrs": []string{"10.0.0.0/8"},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := s.client.Logical().Read("auth/token/roles/old")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]json.Number{"period": "1800", "token_period": "1800", "explicit_max_ttl": "7200", "token_explicit_max_ttl": "7200"} {
		if r.Data[k] != v {
			t.Errorf("%s = %v, want %v", k, r.Data[k], v)
		}
	}
	w, err := s.client.Logical().Write("auth/token/roles/old", map[string]any{"period": "1m", "token_period": "2m"})
	if err != nil || len(w.Warnings) != 1 || !strings.Contains(w.Warnings[0], `"token_period" is set and takes precedence`) {
		t.Fatalf("both names: %+v %v", w, err)
	}
	for name, body := range map[string]map[string]any{
		"type":          {"token_type": "gold"},
		"suffix":        {"path_suffix": "../../sys"},
		"batch parent":  {"token_type": "batch", "renewable": false},
		"negative uses": {"token_num_uses": -1},
	} {
		if _, err := s.client.Logical().Write("auth/token/roles/bad", body); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if r, err := s.client.Logical().Read("auth/token/roles/bad"); r != nil || err != nil {
		t.Fatalf("a refused role was stored: %+v %v", r, err)
	}
}
