package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

const userpassDev = `
path "secret/data/dev/*" {
  capabilities = ["read"]
}
`

// TestUserpass drives the userpass auth method with the published client:
// manage a user, log in without a token, use and renew the token, and see
// the users go with the mount.
func TestUserpass(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("enable userpass: %v", err)
	}
	auths, err := s.client.Sys().ListAuth()
	if err != nil || auths["userpass/"] == nil || auths["userpass/"].Type != "userpass" {
		t.Fatalf("auth list: %v %v", auths, err)
	}
	if err := s.client.Sys().PutPolicy("dev", userpassDev); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dev/db", "ops/db"} {
		if _, err := s.client.KVv2("secret").Put(ctx, p, map[string]any{"pw": p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/alice", map[string]any{
		"password": "correct horse", "token_policies": "dev", "token_ttl": "1h", "token_max_ttl": "2h",
	}); err != nil {
		t.Fatalf("write user: %v", err)
	}
	u, err := s.client.Logical().Read("auth/userpass/users/alice")
	if err != nil || u == nil || u.Data["password"] != nil || u.Data["password_hash"] != nil {
		t.Fatalf("read user: %+v %v", u, err)
	}
	if l, err := s.client.Logical().List("auth/userpass/users"); err != nil || l == nil || !slices.Contains(l.Data["keys"].([]any), any("alice")) {
		t.Fatalf("list users: %+v %v", l, err)
	}

	anon := s.as(t, "")
	login, err := anon.Logical().Write("auth/userpass/login/ALICE", map[string]any{"password": "correct horse"})
	if err != nil || login.Auth == nil || login.Auth.ClientToken == "" {
		t.Fatalf("login: %+v %v", login, err)
	}
	if !slices.Contains(login.Auth.Policies, "dev") || !slices.Contains(login.Auth.Policies, "default") ||
		login.Auth.Metadata["username"] != "alice" || login.Auth.LeaseDuration != 3600 || !login.Auth.Renewable {
		t.Fatalf("login auth: %+v", login.Auth)
	}
	for name, body := range map[string]map[string]any{
		"wrong password": {"password": "wrong"},
		"unknown user":   {"password": "correct horse"},
	} {
		path := "auth/userpass/login/alice"
		if name == "unknown user" {
			path = "auth/userpass/login/mallory"
		}
		_, err := anon.Logical().Write(path, body)
		var re *api.ResponseError
		if statusOf(err) != http.StatusBadRequest || !errors.As(err, &re) || !slices.Equal(re.Errors, []string{"invalid username or password"}) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	alice := s.as(t, login.Auth.ClientToken)
	if got, err := alice.KVv2("secret").Get(ctx, "dev/db"); err != nil || got.Data["pw"] != "dev/db" {
		t.Fatalf("allowed read: %+v %v", got, err)
	}
	if _, err := alice.KVv2("secret").Get(ctx, "ops/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("denied read: %v", err)
	}
	if _, err := alice.Logical().Read("auth/userpass/users/alice"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a user read the user table: %v", err)
	}
	renewed, err := alice.Auth().Token().RenewSelf(600)
	if err != nil || renewed.Auth == nil || renewed.Auth.LeaseDuration != 600 {
		t.Fatalf("renew-self: %+v %v", renewed, err)
	}
	self, err := alice.Auth().Token().LookupSelf()
	if err != nil || self.Data["display_name"] != "userpass-alice" {
		t.Fatalf("lookup-self: %+v %v", self, err)
	}

	if err := s.client.Sys().DisableAuth("userpass"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if _, err := alice.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a login token outlived its auth method: %v", err)
	}
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("re-enable: %v", err)
	}
	if _, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "correct horse"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("login after the mount was re-created: %v", err)
	}
	if l, err := s.client.Logical().List("auth/userpass/users"); err != nil || l != nil {
		t.Fatalf("users survived disable: %+v %v", l, err)
	}
}

// TestLoginTokensFollowTheMount checks that a login token takes its auth
// mount's default TTL when the user sets none, and never outlives the
// mount's maximum.
func TestLoginTokensFollowTheMount(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass",
		Config: api.AuthConfigInput{DefaultLeaseTTL: "10m", MaxLeaseTTL: "20m"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/bob", map[string]any{"password": "pw-for-bob", "policies": "default"}); err != nil {
		t.Fatal(err)
	}
	login, err := s.as(t, "").Logical().Write("auth/userpass/login/bob", map[string]any{"password": "pw-for-bob"})
	if err != nil || login.Auth.LeaseDuration != 600 {
		t.Fatalf("login: %+v %v", login, err)
	}
	renewed, err := s.as(t, login.Auth.ClientToken).Auth().Token().RenewSelf(3600)
	if err != nil || renewed.Auth.LeaseDuration > 1200 {
		t.Fatalf("renewal past the mount's max: %+v %v", renewed, err)
	}
}

// TestLoginRenewalRechecksTheUser: a login token renews only while its user
// exists with the same policies, as in Vault.
func TestLoginRenewalRechecksTheUser(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	write := func(data map[string]any) {
		t.Helper()
		if _, err := s.client.Logical().Write("auth/userpass/users/carol", data); err != nil {
			t.Fatal(err)
		}
	}
	login := func() *api.Client {
		t.Helper()
		l, err := s.as(t, "").Logical().Write("auth/userpass/login/carol", map[string]any{"password": "pw-carol-1"})
		if err != nil {
			t.Fatal(err)
		}
		return s.as(t, l.Auth.ClientToken)
	}
	write(map[string]any{"password": "pw-carol-1", "token_policies": "a"})
	c := login()
	if _, err := c.Auth().Token().RenewSelf(60); err != nil {
		t.Fatalf("renewal of a current login: %v", err)
	}
	write(map[string]any{"token_policies": "a,b"})
	if _, err := c.Auth().Token().RenewSelf(60); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("renewal after the policies changed: %v", err)
	}
	c = login()
	if _, err := s.client.Logical().Delete("auth/userpass/users/carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Auth().Token().RenewSelf(60); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("renewal after the user was deleted: %v", err)
	}
}
