package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// TestBatchTokens: a batch token works for what its policies allow and for
// nothing a batch token may not do, survives a seal and unseal, and dies
// with its parent.
func TestBatchTokens(t *testing.T) {
	t.Parallel()
	s, _ := startInmem(t)
	ctx := context.Background()
	tokens := s.client.Auth().Token()
	if err := s.client.Sys().PutPolicy("reader", readOnly); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Sys().PutPolicy("minter", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "app/db", map[string]any{"pw": "x"}); err != nil {
		t.Fatal(err)
	}
	b, err := tokens.Create(&api.TokenCreateRequest{Type: "batch", Policies: []string{"reader", "minter"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	tok := b.Auth.ClientToken
	if !strings.HasPrefix(tok, "b.") || b.Auth.Accessor != "" || b.Auth.Renewable || b.Auth.LeaseDuration != 3600 {
		t.Fatalf("batch create: %+v", b.Auth)
	}
	bc := s.as(t, tok)
	if got, err := bc.KVv2("secret").Get(ctx, "app/db"); err != nil || got.Data["pw"] != "x" {
		t.Fatalf("read with a batch token: %+v %v", got, err)
	}
	if _, err := bc.KVv2("secret").Put(ctx, "app/db", map[string]any{"pw": "y"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("policy not enforced on a batch token: %v", err)
	}
	self, err := bc.Auth().Token().LookupSelf()
	if err != nil || self.Data["type"] != "batch" || self.Data["id"] != tok || self.Data["accessor"] != "" || self.Data["renewable"] != false || self.Data["orphan"] != false {
		t.Fatalf("lookup-self: %+v %v", self, err)
	}
	if ttl, _ := self.Data["ttl"].(json.Number).Int64(); ttl <= 0 || ttl > 3600 {
		t.Fatalf("ttl %d", ttl)
	}
	refusals := map[string]error{}
	_, refusals["renew-self"] = bc.Auth().Token().RenewSelf(0)
	_, refusals["renew"] = tokens.Renew(tok, 0)
	refusals["revoke"] = tokens.RevokeTree(tok)
	_, refusals["child"] = bc.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	_, refusals["num_uses"] = tokens.Create(&api.TokenCreateRequest{Type: "batch", Policies: []string{"reader"}, NumUses: 3})
	_, refusals["period"] = tokens.Create(&api.TokenCreateRequest{Type: "batch", Policies: []string{"reader"}, Period: "1h"})
	_, refusals["root"] = tokens.Create(&api.TokenCreateRequest{Type: "batch"})
	for name, err := range refusals {
		if statusOf(err) != http.StatusBadRequest {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := bc.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("a refused revoke or renew changed the token: %v", err)
	}

	// The key lives behind the barrier: sealed, nothing works; unsealed
	// again, the same token does.
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Auth().Token().LookupSelf(); statusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("sealed: %v", err)
	}
	if _, err := s.client.Sys().Unseal(s.keys[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("batch token lost across seal and unseal: %v", err)
	}

	parent, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"reader", "minter"}})
	if err != nil {
		t.Fatal(err)
	}
	child, err := s.as(t, parent.Auth.ClientToken).Auth().Token().Create(&api.TokenCreateRequest{Type: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.RevokeTree(parent.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, child.Auth.ClientToken).KVv2("secret").Get(ctx, "app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("batch child outlived its parent: %v", err)
	}
}

// TestBatchTokenTampered: a malformed or altered batch token is a plain 403,
// never a 500.
func TestBatchTokenTampered(t *testing.T) {
	t.Parallel()
	s, _ := startInmem(t)
	b, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Type: "batch", Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := b.Auth.ClientToken
	mid := len(tok) / 2
	swap := map[byte]byte{'A': 'B'}[tok[mid]]
	if swap == 0 {
		swap = 'A'
	}
	for name, bad := range map[string]string{
		"altered":   tok[:mid] + string(swap) + tok[mid+1:],
		"truncated": tok[:len(tok)-5],
		"garbage":   "b.%%%not-base64",
		"empty":     "b.",
		"long":      "b." + strings.Repeat("A", 20000),
	} {
		if code := rawStatus(t, s, http.MethodGet, "auth/token/lookup-self", bad); code != http.StatusForbidden {
			t.Fatalf("%s: status %d", name, code)
		}
		if code := rawStatus(t, s, http.MethodGet, "secret/data/x", bad); code != http.StatusForbidden {
			t.Fatalf("%s on a secret: status %d", name, code)
		}
	}
}

// TestBatchLogin: an auth method whose login asks for a batch token gets
// one, capped by the mount's TTLs, and it works.
func TestBatchLogin(t *testing.T) {
	t.Parallel()
	s, _ := startInmem(t)
	if _, err := s.client.Logical().Write("sys/auth/trust/tune", map[string]any{"default_lease_ttl": "10m", "max_lease_ttl": "30m"}); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "")
	for typ, batch := range map[string]bool{"batch": true, "default-batch": true, "service": false, "": false} {
		login, err := anon.Logical().Write("auth/trust/login", map[string]any{"policies": "default", "token_type": typ, "ttl": "1h"})
		if err != nil {
			t.Fatalf("%q: %v", typ, err)
		}
		a := login.Auth
		if strings.HasPrefix(a.ClientToken, "b.") != batch || (a.Accessor == "") != batch {
			t.Fatalf("%q: %+v", typ, a)
		}
		if a.LeaseDuration != 1800 {
			t.Fatalf("%q: lease %d, want the mount's max 1800", typ, a.LeaseDuration)
		}
		self, err := s.as(t, a.ClientToken).Auth().Token().LookupSelf()
		if err != nil || self.Data["path"] != "auth/trust/login" || self.Data["orphan"] != true || (self.Data["type"] == "batch") != batch {
			t.Fatalf("%q: lookup-self %+v %v", typ, self, err)
		}
	}
	// A real auth method, through tokenutil's token_type.
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("auth/userpass/users/bot", map[string]any{"password": "pw", "token_type": "batch", "ttl": "5m"}); err != nil {
		t.Fatal(err)
	}
	up, err := anon.Logical().Write("auth/userpass/login/bot", map[string]any{"password": "pw"})
	if err != nil || !strings.HasPrefix(up.Auth.ClientToken, "b.") || up.Auth.LeaseDuration != 300 || up.Auth.Renewable {
		t.Fatalf("userpass batch login: %+v %v", up, err)
	}
	if _, err := s.as(t, up.Auth.ClientToken).Auth().Token().RenewSelf(0); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("renewing a userpass batch token: %v", err)
	}

	batch, err := anon.Logical().Write("auth/trust/login", map[string]any{"policies": "default", "token_type": "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Sys().DisableAuth("trust"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, batch.Auth.ClientToken).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a batch token outlived the auth method that issued it: %v", err)
	}
}
