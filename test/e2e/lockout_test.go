package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/lockout"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// startWithLockout starts an initialised, unsealed server on p whose
// server-wide user lockout configuration is policy (the user_lockout
// stanzas and the environment switch, as the server command builds it).
func startWithLockout(t *testing.T, p physical.Backend, policy lockout.Policy) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: p, StorageType: "inmem", Version: "test", Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
		UserLockout: policy,
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	s.unseal(t)
	s.client.SetToken(s.root)
	return s
}

// withUserpass enables userpass with the user alice and returns the mount's
// accessor.
func withUserpass(t *testing.T, s *server) string {
	t.Helper()
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatalf("enable userpass: %v", err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "right-password"}); err != nil {
		t.Fatal(err)
	}
	auths, err := s.client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	return auths["userpass/"].Accessor
}

// answer is what a caller learns from a login: the status and the errors.
type answer struct {
	status int
	errors string
}

func loginAnswer(t *testing.T, s *server, name, password string) answer {
	t.Helper()
	secret, err := s.as(t, "").Logical().Write("auth/userpass/login/"+name, map[string]any{"password": password})
	if err == nil {
		if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
			t.Fatalf("login %s: no token in %+v", name, secret)
		}
		return answer{status: http.StatusOK}
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("login %s: %v", name, err)
	}
	b, _ := json.Marshal(re.Errors)
	return answer{re.StatusCode, string(b)}
}

var (
	badLogin = answer{http.StatusBadRequest, `["invalid username or password"]`}
	locked   = answer{http.StatusForbidden, `["permission denied"]`}
	loggedIn = answer{status: http.StatusOK}
)

// TestUserLockout: five wrong passwords lock a user, and then even the
// right password is refused, with Vault's 403; a user name that does not
// exist meets exactly the same answers, so the lockout tells nobody which
// users exist. Other users are not affected.
func TestUserLockout(t *testing.T) {
	t.Parallel()
	s := start(t)
	withUserpass(t, s)
	if _, err := s.client.Logical().Write("auth/userpass/users/bob", map[string]any{"password": "bobs-password"}); err != nil {
		t.Fatal(err)
	}
	for i := range lockout.DefaultThreshold {
		for _, name := range []string{"alice", "mallory"} {
			if got := loginAnswer(t, s, name, "wrong"); got != badLogin {
				t.Fatalf("%s, wrong password %d: %+v", name, i+1, got)
			}
		}
	}
	for _, name := range []string{"alice", "ALICE", "mallory"} {
		if got := loginAnswer(t, s, name, "right-password"); got != locked {
			t.Fatalf("%s after %d failures, right password: %+v, want %+v", name, lockout.DefaultThreshold, got, locked)
		}
		if got := loginAnswer(t, s, name, "wrong"); got != locked {
			t.Fatalf("%s locked, wrong password: %+v", name, got)
		}
	}
	if got := loginAnswer(t, s, "bob", "bobs-password"); got != loggedIn {
		t.Fatalf("another user was locked too: %+v", got)
	}
}

// TestLockedUsersAndUnlock: sys/locked-users lists the locked aliases in
// Vault's shape, optionally for one mount accessor, and unlock lets the
// user in again at once.
func TestLockedUsersAndUnlock(t *testing.T) {
	t.Parallel()
	s := start(t)
	acc := withUserpass(t, s)
	empty := s.raw(t, http.MethodGet, "sys/locked-users", nil)
	if empty.status != http.StatusOK || !equalJSON(t, empty.body["data"], map[string]any{
		"total":        0,
		"by_namespace": []any{map[string]any{"namespace_id": "root", "namespace_path": "", "counts": 0, "mount_accessors": []any{}}},
	}) {
		t.Fatalf("nothing locked: %d %v", empty.status, empty.body)
	}
	for range lockout.DefaultThreshold {
		loginAnswer(t, s, "alice", "wrong")
		loginAnswer(t, s, "mallory", "wrong")
	}
	want := map[string]any{
		"total": 2,
		"by_namespace": []any{map[string]any{"namespace_id": "root", "namespace_path": "", "counts": 2, "mount_accessors": []any{
			map[string]any{"mount_accessor": acc, "counts": 2, "alias_identifiers": []any{"alice", "mallory"}},
		}}},
	}
	got, err := s.client.Logical().Read("sys/locked-users")
	if err != nil || !equalJSON(t, got.Data, want) {
		t.Fatalf("locked users: %+v %v", got, err)
	}
	got, err = s.client.Logical().ReadWithData("sys/locked-users", map[string][]string{"mount_accessor": {acc}})
	if err != nil || !equalJSON(t, got.Data, want) {
		t.Fatalf("locked users of %s: %+v %v", acc, got, err)
	}
	got, err = s.client.Logical().ReadWithData("sys/locked-users", map[string][]string{"mount_accessor": {"auth_userpass_00000000"}})
	if err != nil || got.Data["total"] != json.Number("0") {
		t.Fatalf("locked users of another mount: %+v %v", got, err)
	}
	if _, err := s.as(t, "").Logical().Read("sys/locked-users"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("listed without a token: %v", err)
	}
	if _, err := s.as(t, "").Logical().Write("sys/locked-users/"+acc+"/unlock/alice", nil); statusOf(err) != http.StatusForbidden {
		t.Fatalf("unlocked without a token: %v", err)
	}

	if _, err := s.client.Logical().Write("sys/locked-users/"+acc+"/unlock/alice", nil); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if got := loginAnswer(t, s, "alice", "right-password"); got != loggedIn {
		t.Fatalf("after unlock: %+v", got)
	}
	if got := loginAnswer(t, s, "mallory", "wrong"); got != locked {
		t.Fatalf("unlocking alice unlocked mallory: %+v", got)
	}
	if _, err := s.client.Logical().Write("sys/locked-users/"+acc+"/unlock/nobody", nil); err != nil {
		t.Fatalf("unlocking a user that is not locked: %v", err)
	}
	got, err = s.client.Logical().Read("sys/locked-users")
	if err != nil || got.Data["total"] != json.Number("1") {
		t.Fatalf("after unlock: %+v %v", got, err)
	}
}

// TestLockoutSurvivesSealAndRestart: a lock is persisted, so neither a
// seal/unseal nor a new server process on the same storage lifts it.
func TestLockoutSurvivesSealAndRestart(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	s := startWithLockout(t, p, lockout.Policy{})
	acc := withUserpass(t, s)
	for range lockout.DefaultThreshold {
		loginAnswer(t, s, "alice", "wrong")
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	s.unseal(t)
	if got := loginAnswer(t, s, "alice", "right-password"); got != locked {
		t.Fatalf("after seal and unseal: %+v", got)
	}
	if err := s.core.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}

	again := startSealed(t, p)
	again.keys, again.root = s.keys, s.root
	again.unseal(t)
	again.client.SetToken(again.root)
	if got := loginAnswer(t, again, "alice", "right-password"); got != locked {
		t.Fatalf("after a restart: %+v", got)
	}
	if _, err := again.client.Logical().Write("sys/locked-users/"+acc+"/unlock/alice", nil); err != nil {
		t.Fatal(err)
	}
	if got := loginAnswer(t, again, "alice", "right-password"); got != loggedIn {
		t.Fatalf("after unlock: %+v", got)
	}
}

// TestLockoutTune: user_lockout_config on sys/auth/<path>/tune, with the
// keys the OpenBao client sends, sets the mount's lockout and shows in the
// tune read and the auth listing with Vault's names; lockout_disable turns
// it off; mounts user lockout does not apply to refuse it.
func TestLockoutTune(t *testing.T) {
	t.Parallel()
	s := start(t)
	withUserpass(t, s)
	tune := map[string]any{"user_lockout_config": api.UserLockoutConfigInput{
		LockoutThreshold: "2", LockoutDuration: "1h", LockoutCounterResetDuration: "30m",
	}}
	if _, err := s.client.Logical().Write("sys/auth/userpass/tune", tune); err != nil {
		t.Fatalf("tune: %v", err)
	}
	wantView := map[string]any{
		"user_lockout_threshold": 2, "user_lockout_duration": 3600, "user_lockout_counter_reset_duration": 1800, "user_lockout_disable": false,
	}
	read, err := s.client.Logical().Read("sys/auth/userpass/tune")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range wantView {
		if !equalJSON(t, read.Data[k], v) {
			t.Fatalf("tune read %s = %v, want %v (%v)", k, read.Data[k], v, read.Data)
		}
	}
	auths := s.raw(t, http.MethodGet, "sys/auth", nil)
	cfg, _ := auths.body["data"].(map[string]any)["userpass/"].(map[string]any)["config"].(map[string]any)
	if !equalJSON(t, cfg["user_lockout_config"], wantView) {
		t.Fatalf("auth listing config: %v", cfg)
	}
	for i := range 2 {
		if got := loginAnswer(t, s, "alice", "wrong"); got != badLogin {
			t.Fatalf("failure %d: %+v", i+1, got)
		}
	}
	if got := loginAnswer(t, s, "alice", "right-password"); got != locked {
		t.Fatalf("the tuned threshold of 2 did not lock: %+v", got)
	}

	disable := true
	if _, err := s.client.Logical().Write("sys/auth/userpass/tune", map[string]any{
		"user_lockout_config": api.UserLockoutConfigInput{DisableLockout: &disable},
	}); err != nil {
		t.Fatal(err)
	}
	if got := loginAnswer(t, s, "alice", "right-password"); got != loggedIn {
		t.Fatalf("lockout disabled by tune still refuses: %+v", got)
	}
	for i := range 3 * lockout.DefaultThreshold {
		if got := loginAnswer(t, s, "mallory", "wrong"); got != badLogin {
			t.Fatalf("lockout disabled, failure %d: %+v", i+1, got)
		}
	}
	read, err = s.client.Logical().Read("sys/auth/userpass/tune")
	if err != nil || read.Data["user_lockout_disable"] != true || read.Data["user_lockout_threshold"] != json.Number("2") {
		t.Fatalf("tune read after disable: %+v %v", read, err)
	}

	for name, tc := range map[string]struct {
		path string
		cfg  map[string]any
	}{
		"secrets engine":    {"sys/mounts/secret/tune", map[string]any{"lockout_threshold": "3"}},
		"token store":       {"sys/auth/token/tune", map[string]any{"lockout_threshold": "3"}},
		"unknown key":       {"sys/auth/userpass/tune", map[string]any{"lockout_treshold": "3"}},
		"bad threshold":     {"sys/auth/userpass/tune", map[string]any{"lockout_threshold": "x"}},
		"bad duration":      {"sys/auth/userpass/tune", map[string]any{"lockout_duration": "x"}},
		"negative duration": {"sys/auth/userpass/tune", map[string]any{"lockout_counter_reset_duration": -1}},
	} {
		_, err := s.client.Logical().Write(tc.path, map[string]any{"user_lockout_config": tc.cfg})
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestLockoutServerConfig: the server-wide configuration (a user_lockout
// "userpass" stanza; the environment switch) applies to every userpass
// mount, and the switch turns it off whatever the stanzas say.
func TestLockoutServerConfig(t *testing.T) {
	t.Parallel()
	yes := true
	cases := map[string]struct {
		policy     lockout.Policy
		failures   int
		wantLocked bool
	}{
		"userpass stanza threshold": {policy: lockout.Policy{Stanzas: map[string]lockout.Settings{"userpass": {Threshold: 2}}}, failures: 2, wantLocked: true},
		"type stanza over all":      {policy: lockout.Policy{Stanzas: map[string]lockout.Settings{"all": {Threshold: 1}, "userpass": {Threshold: 3}}}, failures: 2, wantLocked: false},
		"stanza disables":           {policy: lockout.Policy{Stanzas: map[string]lockout.Settings{"all": {Disable: &yes}}}, failures: 10, wantLocked: false},
		"environment disables":      {policy: lockout.Policy{EnvDisable: &yes, Stanzas: map[string]lockout.Settings{"userpass": {Threshold: 1}}}, failures: 10, wantLocked: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startWithLockout(t, inmem.New(), tc.policy)
			withUserpass(t, s)
			for i := range tc.failures {
				if got := loginAnswer(t, s, "alice", "wrong"); got != badLogin {
					t.Fatalf("failure %d: %+v", i+1, got)
				}
			}
			want := loggedIn
			if tc.wantLocked {
				want = locked
			}
			if got := loginAnswer(t, s, "alice", "right-password"); got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestLockoutParallelGuesses: a burst of parallel wrong passwords gets no
// more than the threshold of real checks; the rest meet the lock.
func TestLockoutParallelGuesses(t *testing.T) {
	t.Parallel()
	s := start(t)
	withUserpass(t, s)
	const n = 20
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = loginAnswer(t, s, "alice", "wrong") })
	}
	wg.Wait()
	bad := 0
	for _, a := range answers {
		switch a {
		case badLogin:
			bad++
		case locked:
		default:
			t.Fatalf("unexpected answer %+v", a)
		}
	}
	if bad != lockout.DefaultThreshold || !slices.Contains(answers, locked) {
		t.Fatalf("%d of %d parallel guesses were checked, want %d", bad, n, lockout.DefaultThreshold)
	}
}
