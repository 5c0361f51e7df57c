package e2e

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestLegacyTokenParameters: the older names of the token settings on a
// userpass user (ttl, max_ttl, period, policies, bound_cidrs, num_uses)
// shape the login token exactly like their token_* names, and a read
// reports them under the name they were written with, as Vault does.
func TestLegacyTokenParameters(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	write := func(user string, data map[string]any) {
		t.Helper()
		data["password"] = "pw-" + user
		if _, err := s.client.Logical().Write("auth/userpass/users/"+user, data); err != nil {
			t.Fatalf("write %s: %v", user, err)
		}
	}
	login := func(user string) *api.SecretAuth {
		t.Helper()
		l, err := s.as(t, "").Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw-" + user})
		if err != nil || l.Auth == nil {
			t.Fatalf("login %s: %+v %v", user, l, err)
		}
		return l.Auth
	}
	lookup := func(tok string) map[string]any {
		t.Helper()
		r, err := s.client.Auth().Token().Lookup(tok)
		if err != nil {
			t.Fatal(err)
		}
		return r.Data
	}

	write("ttl", map[string]any{"ttl": "10s", "max_ttl": "1m", "policies": "dev"})
	a := login("ttl")
	if a.LeaseDuration != 10 || !slices.Equal(a.Policies, []string{"default", "dev"}) {
		t.Fatalf("legacy ttl/policies ignored: lease %d, policies %v", a.LeaseDuration, a.Policies)
	}
	if r, err := s.as(t, a.ClientToken).Auth().Token().RenewSelf(3600); err != nil || r.Auth.LeaseDuration > 60 {
		t.Fatalf("legacy max_ttl ignored on renewal: %+v %v", r, err)
	}
	u, err := s.client.Logical().Read("auth/userpass/users/ttl")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"ttl": "10", "token_ttl": "10", "max_ttl": "60", "token_max_ttl": "60"} {
		if got := u.Data[k]; got != json.Number(want.(string)) {
			t.Errorf("read %s = %v, want %v", k, got, want)
		}
	}
	if !reflect.DeepEqual(u.Data["policies"], []any{"dev"}) || !reflect.DeepEqual(u.Data["token_policies"], []any{"dev"}) {
		t.Errorf("read policies = %v / %v", u.Data["policies"], u.Data["token_policies"])
	}

	write("periodic", map[string]any{"period": "30m", "num_uses": 5, "bound_cidrs": "127.0.0.1"})
	a = login("periodic")
	d := lookup(a.ClientToken)
	if d["period"] != json.Number("1800") || d["num_uses"] != json.Number("5") || !reflect.DeepEqual(d["bound_cidrs"], []any{"127.0.0.1/32"}) {
		t.Fatalf("legacy period/num_uses/bound_cidrs ignored: %v", d)
	}

	write("both", map[string]any{"ttl": "1h", "token_ttl": "20s"})
	if a = login("both"); a.LeaseDuration != 20 {
		t.Fatalf("token_ttl must win over ttl: lease %d", a.LeaseDuration)
	}

	write("nodefault", map[string]any{"token_policies": "dev", "token_no_default_policy": true})
	if a = login("nodefault"); !slices.Equal(a.Policies, []string{"dev"}) {
		t.Fatalf("token_no_default_policy ignored: %v", a.Policies)
	}

	_, err = s.client.Logical().Write("auth/userpass/users/batch", map[string]any{"password": "pw", "token_type": "batch", "period": "1h"})
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "batch") {
		t.Fatalf("token_type batch with the legacy period: %v", err)
	}
}
