package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/lockout"
)

const approleBuild = `
path "secret/data/build/*" {
  capabilities = ["read"]
}
`

// enableApprole mounts approle at approle/ and writes role "build" with
// the given settings, returning its role ID.
func enableApprole(t testing.TB, s *server, role map[string]any) string {
	t.Helper()
	if err := s.client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle: %v", err)
	}
	if err := s.client.Sys().PutPolicy("build", approleBuild); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/approle/role/build", role); err != nil {
		t.Fatalf("write role: %v", err)
	}
	r, err := s.client.Logical().Read("auth/approle/role/build/role-id")
	if err != nil || r == nil {
		t.Fatalf("role-id: %+v %v", r, err)
	}
	return r.Data["role_id"].(string)
}

// TestApproleLoginFlow drives the whole AppRole flow through the published
// client: role, role ID, secret ID with metadata, login without a token,
// the token's policies and metadata, the secret ID's use limit, renewal,
// and the role's deletion.
func TestApproleLoginFlow(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	roleID := enableApprole(t, s, map[string]any{
		"token_policies": "build", "token_ttl": "1h", "secret_id_num_uses": 2, "secret_id_ttl": "10m",
	})
	if _, err := s.client.KVv2("secret").Put(ctx, "build/key", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.client.Logical().List("auth/approle/role"); err != nil || l == nil || !slices.Contains(l.Data["keys"].([]any), any("build")) {
		t.Fatalf("list roles: %+v %v", l, err)
	}
	gen, err := s.client.Logical().Write("auth/approle/role/build/secret-id", map[string]any{"metadata": `{"host":"ci-7"}`})
	if err != nil || gen.Data["secret_id"] == nil || gen.Data["secret_id_num_uses"].(json.Number).String() != "2" {
		t.Fatalf("secret-id: %+v %v", gen, err)
	}
	secretID, accessor := gen.Data["secret_id"].(string), gen.Data["secret_id_accessor"].(string)
	if l, err := s.client.Logical().List("auth/approle/role/build/secret-id"); err != nil || l == nil || !slices.Equal(l.Data["keys"].([]any), []any{accessor}) {
		t.Fatalf("list accessors: %+v %v", l, err)
	}

	anon := s.as(t, "")
	login, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil || login.Auth == nil || login.Auth.ClientToken == "" {
		t.Fatalf("login: %+v %v", login, err)
	}
	if !slices.Contains(login.Auth.Policies, "build") || login.Auth.Metadata["role_name"] != "build" ||
		login.Auth.Metadata["host"] != "ci-7" || login.Auth.LeaseDuration != 3600 || !login.Auth.Renewable {
		t.Fatalf("login auth: %+v", login.Auth)
	}
	c := s.as(t, login.Auth.ClientToken)
	if got, err := c.KVv2("secret").Get(ctx, "build/key"); err != nil || got.Data["k"] != "v" {
		t.Fatalf("read with the login token: %+v %v", got, err)
	}
	self, err := c.Auth().Token().LookupSelf()
	if err != nil || self.Data["display_name"] != "approle" {
		t.Fatalf("lookup-self: %+v %v", self, err)
	}
	if _, err := c.Auth().Token().RenewSelf(600); err != nil {
		t.Fatalf("renew: %v", err)
	}
	look, err := s.client.Logical().Write("auth/approle/role/build/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": accessor})
	if err != nil || look.Data["secret_id_num_uses"].(json.Number).String() != "1" {
		t.Fatalf("accessor lookup after one login: %+v %v", look, err)
	}
	if _, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID}); err != nil {
		t.Fatalf("second login: %v", err)
	}
	_, err = anon.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	var re *api.ResponseError
	if statusOf(err) != http.StatusBadRequest || !errors.As(err, &re) || !slices.Equal(re.Errors, []string{"invalid role or secret ID"}) {
		t.Fatalf("third login of a two-use secret ID: %v", err)
	}
	if _, err := s.client.Logical().Delete("auth/approle/role/build"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Auth().Token().RenewSelf(600); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("renewal after the role was deleted: %v", err)
	}
	if _, err := anon.Logical().Read("auth/approle/role/build"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("role read without a token: %v", err)
	}
}

// TestApproleConcurrentLogins races many clients over loopback for a
// secret ID with three uses: exactly three get a token.
func TestApproleConcurrentLogins(t *testing.T) {
	t.Parallel()
	s := start(t)
	roleID := enableApprole(t, s, map[string]any{"secret_id_num_uses": 3})
	// The 21 refusals would lock the role ID out (user lockout); this test
	// is about the use limit alone.
	disable := true
	if _, err := s.client.Logical().Write("sys/auth/approle/tune", map[string]any{
		"user_lockout_config": api.UserLockoutConfigInput{DisableLockout: &disable},
	}); err != nil {
		t.Fatal(err)
	}
	gen, err := s.client.Logical().Write("auth/approle/role/build/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			_, err := s.as(t, "").Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": gen.Data["secret_id"]})
			switch code := statusOf(err); {
			case err == nil:
				ok.Add(1)
			case code != http.StatusBadRequest && code != http.StatusTooManyRequests:
				// 400 for a used-up secret ID, 429 once ten of those came
				// from this address.
				t.Errorf("login: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Fatalf("%d logins with a three-use secret ID", ok.Load())
	}
}

// TestApproleLockout: bad secret IDs count against the role ID in user
// lockout, as in Vault: after the threshold even a good secret ID is
// refused with 403 until an operator unlocks the role ID, and another
// role is not affected.
func TestApproleLockout(t *testing.T) {
	t.Parallel()
	s := start(t)
	roleID := enableApprole(t, s, map[string]any{})
	if _, err := s.client.Logical().Write("auth/approle/role/other", map[string]any{"role_id": "other-id"}); err != nil {
		t.Fatal(err)
	}
	good, err := s.client.Logical().Write("auth/approle/role/build/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := s.client.Logical().Write("auth/approle/role/other/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	login := func(role, secret any) int {
		_, err := s.as(t, "").Logical().Write("auth/approle/login", map[string]any{"role_id": role, "secret_id": secret})
		return statusOf(err)
	}
	for i := range lockout.DefaultThreshold {
		if got := login(" "+roleID+" ", "guess"); got != http.StatusBadRequest {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := login(roleID, good.Data["secret_id"]); got != http.StatusForbidden {
		t.Fatalf("login of a locked role ID: %d", got)
	}
	if got := login("other-id", otherSecret.Data["secret_id"]); got != 0 {
		t.Fatalf("another role's login: %d", got)
	}
	auths, err := s.client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("sys/locked-users/"+auths["approle/"].Accessor+"/unlock/"+roleID, nil); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if got := login(roleID, good.Data["secret_id"]); got != 0 {
		t.Fatalf("login after unlock: %d", got)
	}
}
