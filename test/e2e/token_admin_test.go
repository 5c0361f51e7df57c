package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
)

// TestTokenAccessors: LIST auth/token/accessors shows the accessors of live
// service tokens and needs sudo.
func TestTokenAccessors(t *testing.T) {
	t.Parallel()
	s := start(t)
	tokens := s.client.Auth().Token()
	live, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.RevokeAccessor(gone.Auth.Accessor); err != nil {
		t.Fatal(err)
	}
	l, err := s.client.Logical().List("auth/token/accessors")
	if err != nil || l == nil {
		t.Fatalf("list accessors: %+v %v", l, err)
	}
	keys := l.Data["keys"].([]any)
	if !slices.Contains(keys, any(live.Auth.Accessor)) || slices.Contains(keys, any(gone.Auth.Accessor)) || len(keys) != 2 {
		t.Fatalf("accessors %v: want root's and %s only", keys, live.Auth.Accessor)
	}
	for name, caps := range map[string]string{"lister": `["list"]`, "sudo-lister": `["list", "sudo"]`} {
		if err := s.client.Sys().PutPolicy(name, `path "auth/token/accessors" { capabilities = `+caps+` }
path "auth/token/accessors/" { capabilities = `+caps+` }`); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]int{"lister": http.StatusForbidden, "sudo-lister": 0} {
		tok, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.as(t, tok.Auth.ClientToken).Logical().List("auth/token/accessors"); statusOf(err) != want {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestTokenRenewAccessor: renew-accessor renews without revealing the token.
func TestTokenRenewAccessor(t *testing.T) {
	t.Parallel()
	s := start(t)
	tokens := s.client.Auth().Token()
	live, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := tokens.RenewAccessor(live.Auth.Accessor, 7200)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Auth.ClientToken != "" || renewed.Auth.Accessor != live.Auth.Accessor || renewed.Auth.LeaseDuration != 7200 {
		t.Fatalf("renew-accessor: %+v", renewed.Auth)
	}
	look, err := tokens.Lookup(live.Auth.ClientToken)
	if ttl, _ := look.Data["ttl"].(json.Number).Int64(); err != nil || ttl <= 3600 {
		t.Fatalf("lookup after renew-accessor: ttl %d %v", ttl, err)
	}
	if _, err := tokens.RenewAccessor("nope", 0); statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid accessor") {
		t.Fatalf("unknown accessor: %v", err)
	}
}

// TestTokenLookupGET: Vault serves GET auth/token/lookup (token in the query
// string, or the caller's own), but no longer lookup/<token>, which would
// put a token in access logs.
func TestTokenLookupGET(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().PutPolicy("looker", `path "auth/token/lookup" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	other, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"looker"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.client.Logical().ReadWithData("auth/token/lookup", map[string][]string{"token": {other.Auth.ClientToken}})
	if err != nil || got == nil || got.Data["id"] != other.Auth.ClientToken || got.Data["accessor"] != other.Auth.Accessor {
		t.Fatalf("GET lookup?token=: %+v %v", got, err)
	}
	own, err := s.as(t, other.Auth.ClientToken).Logical().Read("auth/token/lookup")
	if err != nil || own == nil || own.Data["id"] != other.Auth.ClientToken {
		t.Fatalf("GET lookup without a token: %+v %v", own, err)
	}
	if code := rawStatus(t, s, http.MethodGet, "auth/token/lookup/"+other.Auth.ClientToken, s.root); code != http.StatusNotFound {
		t.Fatalf("GET lookup/<token>: status %d, want 404 as in Vault", code)
	}
}

// flakyPhysical is a storage without transactions whose deletes under a
// prefix fail while armed: how a revocation gets cut in half.
type flakyPhysical struct {
	physical.Backend
	prefix string
	armed  atomic.Bool
}

var errInjected = errors.New("injected storage failure")

func (f *flakyPhysical) Delete(ctx context.Context, key string) error {
	if f.armed.Load() && strings.HasPrefix(key, f.prefix) {
		return errInjected
	}
	return f.Backend.Delete(ctx, key)
}

// TestTokenTidy cuts a revocation in half (the token's entry deleted, its
// accessor and parent-index entries left behind) and checks that
// auth/token/tidy answers as Vault does and removes what was left.
func TestTokenTidy(t *testing.T) {
	t.Parallel()
	p := &flakyPhysical{Backend: inmem.New(), prefix: "sys/token/accessor/"}
	s := startWithTrust(t, p)
	tokens := s.client.Auth().Token()
	baseAccessors, baseParents := physicalKeys(t, p, "sys/token/accessor/"), physicalKeys(t, p, "sys/token/parent/")
	victim, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	if err := tokens.RevokeTree(victim.Auth.ClientToken); statusOf(err) != http.StatusInternalServerError {
		t.Fatalf("revoke with failing storage: %v", err)
	}
	p.armed.Store(false)
	if _, err := tokens.Lookup(victim.Auth.ClientToken); statusOf(err) != http.StatusForbidden {
		t.Fatalf("half-revoked token still answers: %v", err)
	}
	if a, pa := physicalKeys(t, p, "sys/token/accessor/"), physicalKeys(t, p, "sys/token/parent/"); a != baseAccessors+1 || pa != baseParents+1 {
		t.Fatalf("expected one dangling accessor and parent entry, have %d/%d over %d/%d", a, pa, baseAccessors, baseParents)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/auth/token/tidy", nil)
	req.Header.Set("X-Vault-Token", s.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Warnings []string `json:"warnings"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || len(body.Warnings) != 1 || !strings.HasPrefix(body.Warnings[0], "Tidy operation successfully started") {
		t.Fatalf("tidy: %d %+v", resp.StatusCode, body)
	}
	waitFor(t, "tidy to remove the dangling entries", func() bool {
		return physicalKeys(t, p, "sys/token/accessor/") == baseAccessors && physicalKeys(t, p, "sys/token/parent/") == baseParents
	})
	if l, err := s.client.Logical().List("auth/token/accessors"); err != nil || len(l.Data["keys"].([]any)) != baseAccessors {
		t.Fatalf("accessors after tidy: %+v %v", l, err)
	}
}
