package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestPeriodCappedByMountMax: a periodic token renews to its period for
// ever, so its period is capped by the mount's max_lease_ttl, as Vault's
// CalculateTTL does, with Vault's warning. Before, a period of 100h on a
// mount tuned to 1h (token create with sudo, a token role, a userpass user)
// gave 100h tokens, stepping around the limit the mount's operator set.
func TestPeriodCappedByMountMax(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.TuneMount("auth/token", api.MountConfigInput{MaxLeaseTTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass", Config: api.MountConfigInput{MaxLeaseTTL: "10m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/token/roles/long", map[string]any{"token_period": "100h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "pw", "token_period": "100h"}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, sec *api.Secret, err error, want int) {
		t.Helper()
		if err != nil || sec == nil || sec.Auth == nil {
			t.Fatalf("%s: %+v %v", name, sec, err)
		}
		if sec.Auth.LeaseDuration != want || len(sec.Warnings) == 0 || !strings.Contains(strings.Join(sec.Warnings, " "), "period value is capped") {
			t.Fatalf("%s: lease_duration %d (want %d), warnings %q", name, sec.Auth.LeaseDuration, want, sec.Warnings)
		}
		look, err := s.client.Auth().Token().Lookup(sec.Auth.ClientToken)
		if err != nil || look.Data["period"] != json.Number(strconv.Itoa(want)) {
			t.Fatalf("%s: lookup period %v (want %d) %v", name, look.Data["period"], want, err)
		}
		renewed, err := s.client.Auth().Token().RenewTokenAsSelf(sec.Auth.ClientToken, 0)
		if err != nil || renewed.Auth.LeaseDuration > want {
			t.Fatalf("%s: renewal %+v %v", name, renewed, err)
		}
	}
	sec, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Period: "100h"})
	check("token create", sec, err, 3600)
	sec, err = s.client.Auth().Token().CreateWithRole(&api.TokenCreateRequest{}, "long")
	check("token role", sec, err, 3600)
	sec, err = s.client.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "pw"})
	check("userpass login", sec, err, 600)

	// A role's period is read again at renewal: tuning the mount lower
	// caps the next renewal of a token already issued.
	sec, err = s.client.Auth().Token().CreateWithRole(&api.TokenCreateRequest{}, "long")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.TuneMount("auth/token", api.MountConfigInput{MaxLeaseTTL: "30m"}); err != nil {
		t.Fatal(err)
	}
	renewed, err := s.client.Auth().Token().RenewTokenAsSelf(sec.Auth.ClientToken, 0)
	if err != nil || renewed.Auth.LeaseDuration > 1800 {
		t.Fatalf("renewal after the max was lowered: %+v %v", renewed, err)
	}
}

// TestTokenMountTuneReachesCreate: auth/token's default_lease_ttl and
// max_lease_ttl, once tuned, govern the tokens it creates and renews.
// Before, the token store kept the server's defaults, so a mount tuned to
// a 1h maximum still issued a 100h token.
func TestTokenMountTuneReachesCreate(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().PutPolicy("child", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	parent, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"child"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Sys().TuneMount("auth/token", api.MountConfigInput{DefaultLeaseTTL: "30m", MaxLeaseTTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	tokens := s.as(t, parent.Auth.ClientToken).Auth().Token()
	long, err := tokens.Create(&api.TokenCreateRequest{TTL: "100h"})
	if err != nil || long.Auth.LeaseDuration != 3600 {
		t.Fatalf("ttl 100h under a 1h max: %+v %v", long, err)
	}
	def, err := tokens.Create(&api.TokenCreateRequest{})
	if err != nil || def.Auth.LeaseDuration != 1800 {
		t.Fatalf("no ttl under a 30m default: %+v %v", def, err)
	}
	renewed, err := tokens.RenewTokenAsSelf(def.Auth.ClientToken, 100*3600)
	if err != nil || renewed.Auth.LeaseDuration > 3600 {
		t.Fatalf("renewal by 100h under a 1h max: %+v %v", renewed, err)
	}
}
