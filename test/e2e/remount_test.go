package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestRemountSecretsEngine moves a KV mount with the published client's
// Remount (start, then poll the status): its data, options and quota go
// with it, and nothing is left at the old path.
func TestRemountSecretsEngine(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	ctx := context.Background()
	if err := sys.Mount("team-a", &api.MountInput{Type: "kv-v2", Description: "team a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("team-a").Put(ctx, "db", map[string]any{"pw": "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("sys/quotas/rate-limit/team", map[string]any{"path": "team-a/", "rate": 1000}); err != nil {
		t.Fatal(err)
	}
	if err := sys.Remount("team-a", "teams/a"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	got, err := s.client.KVv2("teams/a").Get(ctx, "db")
	if err != nil || got.Data["pw"] != "p1" {
		t.Fatalf("data at the new path: %+v %v", got, err)
	}
	mounts, err := sys.ListMounts()
	if err != nil || mounts["team-a/"] != nil || mounts["teams/a/"] == nil || mounts["teams/a/"].Options["version"] != "2" ||
		mounts["teams/a/"].Description != "team a" {
		t.Fatalf("mounts after the move: %v %v", mounts, err)
	}
	if _, err := s.client.KVv2("team-a").Get(ctx, "db"); err == nil {
		t.Fatal("the old path still serves the data")
	}
	q, err := s.client.Logical().Read("sys/quotas/rate-limit/team")
	if err != nil || q.Data["path"] != "teams/a/" {
		t.Fatalf("the quota did not follow the mount: %+v %v", q, err)
	}
	// A new mount at the old path starts empty and without the quota.
	if err := sys.Mount("team-a", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("team-a").Get(ctx, "db"); err == nil {
		t.Fatal("a new mount at the old path sees the moved data")
	}
}

// TestRemountWireShape checks sys/remount and sys/remount/status byte for
// byte: the migration ID (at the top level too, as in Vault), the status
// shape, and a 404 for an unknown ID.
func TestRemountWireShape(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("before", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	got := s.raw(t, "POST", "sys/remount", map[string]any{"from": "before", "to": "after"})
	data, _ := got.body["data"].(map[string]any)
	id, _ := data["migration_id"].(string)
	if got.status != http.StatusOK || len(id) != 36 || got.body["migration_id"] != id || len(got.body["warnings"].([]any)) != 1 {
		t.Fatalf("remount answer %d %v", got.status, got.body)
	}
	st, err := s.client.Sys().RemountStatus(id)
	if err != nil || st.MigrationID != id || st.MigrationInfo == nil || st.MigrationInfo.MigrationStatus != "success" ||
		st.MigrationInfo.SourceMount != "before/" || st.MigrationInfo.TargetMount != "after/" {
		t.Fatalf("status %+v %+v %v", st, st.MigrationInfo, err)
	}
	if got := s.raw(t, "GET", "sys/remount/status/no-such-id", nil); got.status != http.StatusNotFound {
		t.Fatalf("unknown migration: %d %v", got.status, got.body)
	}
}

// TestRemountAuthMethod moves userpass: its users, its logins' tokens
// (which renew through the moved method, and die when it is disabled) and
// its lookups all follow.
func TestRemountAuthMethod(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.EnableAuthWithOptions("people", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/people/users/alice", map[string]any{"password": "pw-alice", "token_policies": "default"}); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "")
	login, err := anon.Logical().Write("auth/people/login/alice", map[string]any{"password": "pw-alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice := s.as(t, login.Auth.ClientToken)
	if err := sys.Remount("auth/people", "auth/staff"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	self, err := alice.Auth().Token().LookupSelf()
	if err != nil || self.Data["path"] != "auth/staff/login/alice" {
		t.Fatalf("the token's path did not follow: %+v %v", self, err)
	}
	if _, err := alice.Auth().Token().RenewSelf(60); err != nil {
		t.Fatalf("renewal through the moved method: %v", err)
	}
	if _, err := anon.Logical().Write("auth/staff/login/alice", map[string]any{"password": "pw-alice"}); err != nil {
		t.Fatalf("login at the new path: %v", err)
	}
	if _, err := anon.Logical().Write("auth/people/login/alice", map[string]any{"password": "pw-alice"}); err == nil {
		t.Fatal("login at the old path still works")
	}
	auths, err := sys.ListAuth()
	if err != nil || auths["people/"] != nil || auths["staff/"] == nil || auths["staff/"].Type != "userpass" {
		t.Fatalf("auth list: %v %v", auths, err)
	}
	if err := sys.DisableAuth("staff"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a token of the moved method outlived its disable: %v", err)
	}
}

// TestRemountRefusals: what Vault refuses, with a 400 and nothing moved,
// and the sudo that sys/remount needs.
func TestRemountRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.EnableAuthWithOptions("people", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"other", "nested/inner"} {
		if err := sys.Mount(m, &api.MountInput{Type: "kv"}); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]struct{ from, to, msg string }{
		"the sys mount":          {"sys", "system", `cannot remount "sys/"`},
		"the identity mount":     {"identity", "people", `cannot remount "identity/"`},
		"into identity/":         {"secret", "identity/x", "cannot remount to destination"},
		"into sys/":              {"secret", "sys/secret", "cannot remount to destination"},
		"into cubbyhole/":        {"secret", "cubbyhole/x", "cannot remount to destination"},
		"the cubbyhole mount":    {"cubbyhole", "cubby", `cannot remount "cubbyhole/"`},
		"the token method":       {"auth/token", "auth/tokens2", `cannot remount "auth/token/"`},
		"onto the token method":  {"auth/people", "auth/token", "cannot remount to destination"},
		"auth to secrets":        {"auth/people", "people", "cannot remount auth mount to non-auth mount"},
		"secrets to auth":        {"secret", "auth/secret", "cannot remount to destination"},
		"onto a mount":           {"secret", "other", `path already in use at "other/"`},
		"below a mount":          {"secret", "other/deeper", `path already in use at "other/"`},
		"below itself":           {"secret", "secret/v2", `path already in use at "secret/"`},
		"above a mount":          {"other", "nested", `path already in use at "nested/inner/"`},
		"dot-dot in the target":  {"other", "secret/..", "mount path"},
		"not mounted":            {"nothing", "somewhere", `no matching mount at "nothing/"`},
		"a path inside a mount":  {"secret/data", "elsewhere", `no matching mount at "secret/data/"`},
		"white space":            {"secret", " padded", "'to' path cannot contain trailing whitespace"},
		"missing destination":    {"secret", "", "both 'from' and 'to' path must be specified"},
		"wildcard in the target": {"secret", "sec*", "must not contain"},
		// A body carries what a URL cannot: a mount at "x\x00y/" answered
		// 400 yet moved, and its leases could never follow.
		"control character in the target": {"secret", "x\x00y", "control characters"},
		"no-break space in the target":    {"secret", "a\u00a0b", "white space"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := s.raw(t, "POST", "sys/remount", map[string]any{"from": tc.from, "to": tc.to})
			errs, _ := got.body["errors"].([]any)
			if got.status != http.StatusBadRequest || len(errs) != 1 || !strings.Contains(errs[0].(string), tc.msg) {
				t.Fatalf("%d %v, want 400 with %q", got.status, got.body, tc.msg)
			}
		})
	}
	mounts, err := sys.ListMounts()
	if err != nil || mounts["secret/"] == nil || mounts["other/"] == nil || mounts["cubbyhole/"] == nil || mounts["identity/"] == nil || len(mounts) != 6 {
		t.Fatalf("a refused move changed the mounts: %v %v", mounts, err)
	}

	if err := sys.PutPolicy("mover", `path "sys/remount" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	if err := sys.PutPolicy("sudo-mover", `path "sys/remount" { capabilities = ["update", "sudo"] }`); err != nil {
		t.Fatal(err)
	}
	for policy, want := range map[string]int{"mover": http.StatusForbidden, "sudo-mover": 0} {
		tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.as(t, tok.Auth.ClientToken).Sys().StartRemount("other", "other-"+policy)
		if statusOf(err) != want || (want == 0 && err != nil) {
			t.Fatalf("remount with %s: %v", policy, err)
		}
	}
}
