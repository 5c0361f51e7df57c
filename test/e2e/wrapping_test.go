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
	"time"

	"github.com/openbao/openbao/api/v2"
)

// wrapping returns a client for s with token that asks for every response
// to be wrapped for ttl.
func wrapping(t testing.TB, s *server, token, ttl string) *api.Client {
	c := s.as(t, token)
	c.SetWrappingLookupFunc(func(string, string) string { return ttl })
	return c
}

// isInvalidWrap reports Vault's 400 for a wrapping token that is gone.
func isInvalidWrap(err error) bool {
	var re *api.ResponseError
	return statusOf(err) == http.StatusBadRequest && errors.As(err, &re) &&
		slices.Equal(re.Errors, []string{"wrapping token is not valid or does not exist"})
}

// TestWrappedSecretIDUnwrapsOnce is the promise: a secret ID
// delivered response-wrapped unwraps once and only once, whoever tries
// first, and the one who gets it logs in with it.
func TestWrappedSecretIDUnwrapsOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	roleID := enableApprole(t, s, map[string]any{"token_policies": "build"})
	wrapped, err := wrapping(t, s, s.root, "2m").Logical().Write("auth/approle/role/build/secret-id", map[string]any{"metadata": `{"host":"ci"}`})
	if err != nil || wrapped == nil || wrapped.WrapInfo == nil {
		t.Fatalf("wrapped secret-id: %+v %v", wrapped, err)
	}
	wi := wrapped.WrapInfo
	if wi.Token == "" || wi.Accessor == "" || wi.TTL != 120 || wi.CreationPath != "auth/approle/role/build/secret-id" ||
		wi.WrappedAccessor == "" || time.Since(wi.CreationTime) > time.Minute || wrapped.Data != nil {
		t.Fatalf("wrap_info: %+v data %v", wi, wrapped.Data)
	}
	// The wrapping token is what Vault makes: response-wrapping only, one use.
	look, err := s.client.Auth().Token().LookupAccessor(wi.Accessor)
	if err != nil || look.Data["num_uses"].(json.Number).String() != "1" || !slices.Equal(look.Data["policies"].([]any), []any{"response-wrapping"}) {
		t.Fatalf("wrapping token: %+v %v", look, err)
	}
	// Looked up without a token and without spending the use.
	info, err := s.as(t, "").Logical().Write("sys/wrapping/lookup", map[string]any{"token": wi.Token})
	if err != nil || info.Data["creation_path"] != wi.CreationPath || info.Data["creation_ttl"].(json.Number).String() != "120" {
		t.Fatalf("lookup: %+v %v", info, err)
	}

	// Many race to unwrap it, first party and third party alike: one wins.
	var won atomic.Int32
	var secretID atomic.Value
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			c := s.as(t, "")
			if i%2 == 1 {
				c = s.as(t, s.root)
			}
			sec, err := c.Logical().Unwrap(wi.Token)
			switch {
			case err == nil && sec != nil && sec.Data["secret_id"] != nil:
				won.Add(1)
				secretID.Store(sec.Data["secret_id"].(string))
				if sec.Data["secret_id_accessor"] != wi.WrappedAccessor {
					t.Errorf("wrapped accessor %q, unwrapped %v", wi.WrappedAccessor, sec.Data["secret_id_accessor"])
				}
			case !isInvalidWrap(err):
				t.Errorf("losing unwrap: %+v %v", sec, err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d unwraps succeeded", won.Load())
	}
	if _, err := s.as(t, "").Logical().Unwrap(wi.Token); !isInvalidWrap(err) {
		t.Fatalf("unwrap after the winner: %v", err)
	}
	if _, err := s.as(t, "").Logical().Write("sys/wrapping/lookup", map[string]any{"token": wi.Token}); !isInvalidWrap(err) {
		t.Fatalf("lookup after unwrap: %v", err)
	}
	login, err := s.as(t, "").Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID.Load()})
	if err != nil || login.Auth == nil || login.Auth.Metadata["host"] != "ci" {
		t.Fatalf("login with the unwrapped secret ID: %+v %v", login, err)
	}
}

// TestWrappedKVRead wraps a KV v2 read and a token creation, and unwraps
// each as a third party (another token, the wrapping token in the body).
func TestWrappedKVRead(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	w := wrapping(t, s, s.root, "60s")
	read, err := w.Logical().Read("secret/data/app/db")
	if err != nil || read.WrapInfo == nil || read.Data != nil || read.WrapInfo.CreationPath != "secret/data/app/db" || read.WrapInfo.WrappedAccessor != "" {
		t.Fatalf("wrapped read: %+v %v", read, err)
	}
	got, err := s.client.Logical().Unwrap(read.WrapInfo.Token)
	if err != nil || got.Data["data"].(map[string]any)["password"] != "hunter2" || got.Data["metadata"] == nil {
		t.Fatalf("unwrapped read: %+v %v", got, err)
	}
	tok, err := w.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil || tok.WrapInfo == nil || tok.Auth != nil {
		t.Fatalf("wrapped token create: %+v %v", tok, err)
	}
	inner, err := s.client.Logical().Unwrap(tok.WrapInfo.Token)
	if err != nil || inner.Auth == nil || inner.Auth.Accessor != tok.WrapInfo.WrappedAccessor {
		t.Fatalf("unwrapped token: %+v %v", inner, err)
	}
	if _, err := s.as(t, inner.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the unwrapped token does not work: %v", err)
	}
	// A missing secret is a plain 404, not a wrapped one.
	if sec, err := w.Logical().Read("secret/data/none"); err != nil || sec != nil {
		t.Fatalf("wrapped 404: %+v %v", sec, err)
	}
}

// TestWrappingLookupRewrap covers sys/wrapping/wrap, lookup and rewrap: the
// new token carries the same response, TTL and creation path, and the old
// one is dead.
func TestWrappingLookupRewrap(t *testing.T) {
	t.Parallel()
	s := start(t)
	w := wrapping(t, s, s.root, "90")
	wrapped, err := w.Logical().Write("sys/wrapping/wrap", map[string]any{"k": "v", "n": 7})
	if err != nil || wrapped.WrapInfo == nil || wrapped.WrapInfo.CreationPath != "sys/wrapping/wrap" || wrapped.WrapInfo.TTL != 90 {
		t.Fatalf("wrap: %+v %v", wrapped, err)
	}
	old := wrapped.WrapInfo.Token
	re, err := s.client.Logical().Write("sys/wrapping/rewrap", map[string]any{"token": old})
	if err != nil || re.WrapInfo == nil || re.WrapInfo.Token == old || re.WrapInfo.TTL != 90 || re.WrapInfo.CreationPath != "sys/wrapping/wrap" {
		t.Fatalf("rewrap: %+v %v", re, err)
	}
	if _, err := s.client.Logical().Unwrap(old); !isInvalidWrap(err) {
		t.Fatalf("old token after rewrap: %v", err)
	}
	again, err := s.client.Logical().Write("sys/wrapping/rewrap", map[string]any{"token": re.WrapInfo.Token})
	if err != nil || again.WrapInfo == nil {
		t.Fatalf("second rewrap: %+v %v", again, err)
	}
	info, err := s.as(t, again.WrapInfo.Token).Logical().Write("sys/wrapping/lookup", nil)
	if err != nil || info.Data["creation_path"] != "sys/wrapping/wrap" || info.Data["creation_time"] == "" {
		t.Fatalf("lookup with the token as the request's own: %+v %v", info, err)
	}
	got, err := s.as(t, "").Logical().Unwrap(again.WrapInfo.Token)
	if err != nil || got.Data["k"] != "v" || got.Data["n"].(json.Number).String() != "7" {
		t.Fatalf("unwrap after two rewraps: %+v %v", got, err)
	}
	// A wrapping token may not rewrap itself (its policy grants unwrap
	// only, as Vault's does), and the refused request spends its one use,
	// as a refused request does in Vault.
	fresh, err := w.Logical().Write("sys/wrapping/wrap", map[string]any{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, fresh.WrapInfo.Token).Logical().Write("sys/wrapping/rewrap", nil); statusOf(err) != http.StatusForbidden {
		t.Fatalf("first-party rewrap: %v", err)
	}
	if _, err := s.client.Logical().Unwrap(fresh.WrapInfo.Token); !isInvalidWrap(err) {
		t.Fatalf("unwrap after a refused use: %v", err)
	}
	// sys/wrapping/wrap needs a wrap TTL (raw, since the client adds one).
	req := s.client.NewRequest(http.MethodPost, "/v1/sys/wrapping/wrap")
	if err := req.SetJSONBody(map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	req.WrapTTL = ""
	if _, err := s.client.RawRequest(req); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("wrap without a TTL: %v", err)
	}
}

const wrapOnlyPolicy = `
path "auth/approle/role/build/secret-id" {
  capabilities = ["update"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = "5m"
}
`

// TestWrappingPolicyBounds checks min_wrapping_ttl and max_wrapping_ttl:
// a deliverer allowed secret IDs only wrapped, within the bounds.
func TestWrappingPolicyBounds(t *testing.T) {
	t.Parallel()
	s := start(t)
	enableApprole(t, s, map[string]any{})
	if err := s.client.Sys().PutPolicy("deliver", wrapOnlyPolicy); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"deliver"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ttl  string
		code int
	}{
		"unwrapped":    {"", http.StatusForbidden},
		"too short":    {"20s", http.StatusForbidden},
		"too long":     {"10m", http.StatusForbidden},
		"within":       {"1m", 0},
		"at the max":   {"300", 0},
		"negative ttl": {"-5", http.StatusBadRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := wrapping(t, s, tok.Auth.ClientToken, tc.ttl)
			sec, err := c.Logical().Write("auth/approle/role/build/secret-id", nil)
			if statusOf(err) != tc.code || (tc.code == 0 && (sec == nil || sec.WrapInfo == nil)) {
				t.Fatalf("secret-id wrapped for %q: %+v %v", tc.ttl, sec, err)
			}
		})
	}
}

// TestWrappingErrors covers the wire errors: a JWT format, the reserved
// policy, a non-wrapping token unwrapped, a lookup without a token.
func TestWrappingErrors(t *testing.T) {
	t.Parallel()
	s := start(t)
	req := s.client.NewRequest(http.MethodGet, "/v1/sys/mounts")
	req.Headers = http.Header{"X-Vault-Wrap-Ttl": []string{"60"}, "X-Vault-Wrap-Format": []string{"jwt"}}
	if _, err := s.client.RawRequest(req); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("jwt format: %v", err)
	}
	if err := s.client.Sys().PutPolicy("response-wrapping", `path "*" { capabilities = ["sudo"] }`); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("writing the response-wrapping policy: %v", err)
	}
	if _, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"response-wrapping"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("a token with the response-wrapping policy: %v", err)
	}
	// The root token is not a wrapping token: unwrapping with it is Vault's 400.
	if _, err := s.client.Logical().Write("sys/wrapping/unwrap", nil); !isInvalidWrap(err) {
		t.Fatalf("unwrap with a normal token: %v", err)
	}
	if _, err := s.client.Logical().Write("sys/wrapping/unwrap", map[string]any{"token": "s.nonexistent"}); !isInvalidWrap(err) {
		t.Fatalf("unwrap of an unknown token: %v", err)
	}
	if _, err := s.as(t, "").Logical().Write("sys/wrapping/lookup", nil); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("lookup of nothing: %v", err)
	}
	p, err := s.client.Sys().GetPolicy("response-wrapping")
	if err != nil || p == "" {
		t.Fatalf("read the response-wrapping policy: %q %v", p, err)
	}
}

// TestWrappedLogin wraps an AppRole login: the token reaches only whoever
// unwraps it, and wrap_info names its accessor.
func TestWrappedLogin(t *testing.T) {
	t.Parallel()
	s := start(t)
	roleID := enableApprole(t, s, map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.0/8"})
	login, err := wrapping(t, s, "", "1m").Logical().Write("auth/approle/login", map[string]any{"role_id": roleID})
	if err != nil || login.WrapInfo == nil || login.Auth != nil || login.WrapInfo.WrappedAccessor == "" {
		t.Fatalf("wrapped login: %+v %v", login, err)
	}
	got, err := s.as(t, "").Logical().Unwrap(login.WrapInfo.Token)
	if err != nil || got.Auth == nil || got.Auth.Accessor != login.WrapInfo.WrappedAccessor {
		t.Fatalf("unwrapped login: %+v %v", got, err)
	}
	if _, err := s.as(t, got.Auth.ClientToken).Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("the unwrapped login token: %v", err)
	}
}

// TestCubbyhole checks that each token has its own cubbyhole/, that batch
// tokens have none, and that the mount is built in.
func TestCubbyhole(t *testing.T) {
	t.Parallel()
	s := start(t)
	a, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := s.as(t, a.Auth.ClientToken), s.as(t, b.Auth.ClientToken)
	if _, err := ca.Logical().Write("cubbyhole/notes/x", map[string]any{"v": "a's"}); err != nil {
		t.Fatalf("write own cubbyhole: %v", err)
	}
	if got, err := ca.Logical().Read("cubbyhole/notes/x"); err != nil || got.Data["v"] != "a's" {
		t.Fatalf("read own cubbyhole: %+v %v", got, err)
	}
	if l, err := ca.Logical().List("cubbyhole/notes"); err != nil || l == nil || !slices.Equal(l.Data["keys"].([]any), []any{"x"}) {
		t.Fatalf("list own cubbyhole: %+v %v", l, err)
	}
	for name, c := range map[string]*api.Client{"another token": cb, "root": s.client} {
		if got, err := c.Logical().Read("cubbyhole/notes/x"); err != nil || got != nil {
			t.Fatalf("%s read a's cubbyhole: %+v %v", name, got, err)
		}
	}
	batch, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, Type: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, batch.Auth.ClientToken).Logical().Write("cubbyhole/x", map[string]any{"v": 1}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("batch token cubbyhole: %v", err)
	}
	mounts, err := s.client.Sys().ListMounts()
	if err != nil || mounts["cubbyhole/"] == nil || mounts["cubbyhole/"].Type != "cubbyhole" {
		t.Fatalf("mounts: %v %v", mounts, err)
	}
	if err := s.client.Sys().Unmount("cubbyhole"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("disable cubbyhole/: %v", err)
	}
}
