package e2e

import (
	"encoding/json"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestRenewalFollowsTheRoleNow: a login token renews by its role's current
// period and max TTL, as in Vault. A token issued while the role had
// token_period=1h must stop being periodic once the period is removed and
// a token_max_ttl set, instead of renewing forever by the old period.
func TestRenewalFollowsTheRoleNow(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	role := func(fields map[string]any) {
		t.Helper()
		fields["token_policies"] = "default"
		if _, err := s.client.Logical().Write("auth/approle/role/ci", fields); err != nil {
			t.Fatal(err)
		}
	}
	role(map[string]any{"token_period": "1h"})
	rid, err := s.client.Logical().Read("auth/approle/role/ci/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := s.client.Logical().Write("auth/approle/role/ci/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	login, err := s.client.Logical().Write("auth/approle/login", map[string]any{"role_id": rid.Data["role_id"], "secret_id": sid.Data["secret_id"]})
	if err != nil {
		t.Fatal(err)
	}
	tc := s.as(t, login.Auth.ClientToken).Auth().Token()
	if r, err := tc.RenewSelf(0); err != nil || r.Auth.LeaseDuration != 3600 {
		t.Fatalf("renew while periodic: %+v %v", r, err)
	}
	role(map[string]any{"token_period": "0", "token_ttl": "60s", "token_max_ttl": "120s"})
	r, err := tc.RenewSelf(7200)
	if err != nil {
		t.Fatal(err)
	}
	if r.Auth.LeaseDuration <= 0 || r.Auth.LeaseDuration > 120 {
		t.Fatalf("renewed for %ds after the role's period was removed and its max TTL set to 120s", r.Auth.LeaseDuration)
	}
	look, err := tc.LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if p := seconds(look.Data["period"]); p != 0 {
		t.Fatalf("period after renewal: %v", look.Data["period"])
	}
	if m := seconds(look.Data["explicit_max_ttl"]); m != 120 {
		t.Fatalf("explicit_max_ttl after renewal: %v", look.Data["explicit_max_ttl"])
	}
}

// seconds reads a lookup's duration field: a JSON number, 0 when absent.
func seconds(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}
