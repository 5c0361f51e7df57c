package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

const readOnly = `
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
`

func TestPolicyEnforcement(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if err := s.client.Sys().PutPolicy("reader", readOnly); err != nil {
		t.Fatal(err)
	}
	text, err := s.client.Sys().GetPolicy("reader")
	if err != nil || !strings.Contains(text, "secret/data/app/*") {
		t.Fatalf("get policy: %q %v", text, err)
	}
	names, err := s.client.Sys().ListPolicies()
	if err != nil || !slices.Contains(names, "reader") || !slices.Contains(names, "default") || !slices.Contains(names, "root") {
		t.Fatalf("list policies: %v %v", names, err)
	}
	err = s.client.Sys().PutPolicy("broken", "path \"x\" {\n  capabilities = [\"raed\"]\n}")
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad policy: %v", err)
	}
	if _, err := s.client.KVv2("secret").Put(ctx, "app/db", map[string]any{"pw": "x"}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := s.as(t, tok.Auth.ClientToken)
	if got, err := reader.KVv2("secret").Get(ctx, "app/db"); err != nil || got.Data["pw"] != "x" {
		t.Fatalf("reader read: %+v %v", got, err)
	}
	if _, err := reader.KVv2("secret").Put(ctx, "app/db", map[string]any{"pw": "y"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("reader write: %v", err)
	}
	if _, err := reader.KVv2("secret").Get(ctx, "other"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("reader outside its path: %v", err)
	}
	for _, p := range []string{"secret//data/other", "secret/data/app/../other", "secret/data/./other", "secret%2Fdata%2Fother"} {
		resp, err := reader.Logical().ReadRaw(p)
		if resp != nil {
			resp.Body.Close()
		}
		if code := statusOf(err); code != http.StatusForbidden && code != http.StatusBadRequest {
			t.Fatalf("%s reached a denied path: %v", p, err)
		}
	}
	if ui, err := reader.Logical().Read("sys/internal/ui/mounts/secret/app/db"); err != nil || ui.Data["type"] != "kv" {
		t.Fatalf("reader's own mount lookup: %+v %v", ui, err)
	}
	if err := s.client.Sys().Mount("hidden", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Logical().Read("sys/internal/ui/mounts/hidden/x"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("a mount the reader has no rights on was revealed: %v", err)
	}
	caps, err := s.client.Sys().CapabilitiesSelf("secret/data/app/db")
	if err != nil || !slices.Contains(caps, "root") {
		t.Fatalf("root capabilities: %v %v", caps, err)
	}
	caps, err = s.client.Sys().Capabilities(tok.Auth.ClientToken, "secret/data/app/db")
	if err != nil || !slices.Equal(caps, []string{"list", "read"}) {
		t.Fatalf("reader capabilities: %v %v", caps, err)
	}
	if _, err := s.as(t, "s.bogus").Logical().Read("secret/data/app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := s.as(t, "").Logical().Read("secret/data/app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("no token: %v", err)
	}
	if err := s.client.Sys().DeletePolicy("reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.KVv2("secret").Get(ctx, "app/db"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("deleted policy still grants: %v", err)
	}
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	s := start(t)
	tokens := s.client.Auth().Token()
	if err := s.client.Sys().PutPolicy("minter", `path "auth/token/create" { capabilities = ["create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	parent, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"minter"}, TTL: "1h", Metadata: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if parent.Auth.Accessor == "" || !parent.Auth.Renewable || parent.Auth.LeaseDuration != 3600 {
		t.Fatalf("create: %+v", parent.Auth)
	}
	look, err := tokens.Lookup(parent.Auth.ClientToken)
	if err != nil || look.Data["accessor"] != parent.Auth.Accessor || look.Data["meta"].(map[string]any)["team"] != "a" {
		t.Fatalf("lookup: %+v %v", look, err)
	}
	pc := s.as(t, parent.Auth.ClientToken)
	self, err := pc.Auth().Token().LookupSelf()
	if err != nil || self.Data["id"] != parent.Auth.ClientToken {
		t.Fatalf("lookup-self: %v", err)
	}
	renewed, err := pc.Auth().Token().RenewSelf(7200)
	if err != nil || renewed.Auth.LeaseDuration <= 0 {
		t.Fatalf("renew-self: %+v %v", renewed, err)
	}
	child, err := pc.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"minter"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}}); statusOf(err) != http.StatusBadRequest && statusOf(err) != http.StatusForbidden {
		t.Fatalf("escalation: %v", err)
	}
	byAcc, err := tokens.LookupAccessor(child.Auth.Accessor)
	if err != nil || byAcc.Data["id"] != "" {
		t.Fatalf("lookup-accessor must not reveal the token: %+v %v", byAcc, err)
	}
	if err := tokens.RevokeTree(parent.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, child.Auth.ClientToken).Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("child outlived its parent: %v", err)
	}
	once, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"default"}, NumUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	oc := s.as(t, once.Auth.ClientToken)
	if _, err := oc.Auth().Token().LookupSelf(); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := oc.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("second use of a one-use token: %v", err)
	}
	orphan, err := tokens.CreateOrphan(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil || !orphan.Auth.Orphan {
		t.Fatalf("create-orphan: %+v %v", orphan, err)
	}
	if err := tokens.RevokeAccessor(orphan.Auth.Accessor); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Lookup(orphan.Auth.ClientToken); statusOf(err) != http.StatusForbidden {
		t.Fatalf("revoked by accessor: %v", err)
	}
}

// TestListRespectsDeny lists a folder a policy denies, spelt every way a
// client can, and the mount root that the usual policy allows.
func TestListRespectsDeny(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if err := s.client.Sys().PutPolicy("lister", `
path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"private/hidden-name-1", "public/x"} {
		if _, err := s.client.KVv2("secret").Put(ctx, p, map[string]any{"v": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"lister"}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.as(t, tok.Auth.ClientToken)
	for _, p := range []string{"secret/metadata/private/", "secret/metadata/private", "secret/metadata//private"} {
		if l, err := c.Logical().List(p); statusOf(err) != http.StatusForbidden {
			t.Fatalf("LIST %s: %+v %v", p, l, err)
		}
	}
	resp, err := c.Logical().ReadRawWithData("secret/metadata/private/", map[string][]string{"list": {"true"}})
	if resp != nil {
		resp.Body.Close()
	}
	if statusOf(err) != http.StatusForbidden {
		t.Fatalf("GET ?list=true on the denied folder: %v", err)
	}
	for _, p := range []string{"secret/metadata", "secret/metadata/public"} {
		if l, err := c.Logical().List(p); err != nil || l == nil {
			t.Fatalf("LIST %s must be allowed: %+v %v", p, l, err)
		}
	}
}

// TestMountDenyHolds tries to reach a mount a policy denies by respelling
// its name (surrounding white space, a trailing slash).
func TestMountDenyHolds(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().PutPolicy("mounter", `
path "sys/mounts/*"        { capabilities = ["create", "update", "delete", "read"] }
path "sys/mounts/secret"   { capabilities = ["deny"] }
path "sys/mounts/secret/*" { capabilities = ["deny"] }
`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.KVv2("secret").Put(context.Background(), "keep", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"mounter"}})
	if err != nil {
		t.Fatal(err)
	}
	c := s.as(t, tok.Auth.ClientToken)
	for _, p := range []string{"sys/mounts/secret", "sys/mounts/secret/", "sys/mounts/%20secret", "sys/mounts/secret%20", "sys/mounts//secret"} {
		// A spelling that names no mount may answer 204, as Vault does for
		// any path where nothing is mounted; the read below proves that
		// the denied mount survived every spelling.
		if _, err := c.Logical().Delete(p); err != nil && statusOf(err) != http.StatusForbidden && statusOf(err) != http.StatusBadRequest {
			t.Fatalf("DELETE %s: %v", p, err)
		}
		if _, err := c.Logical().Write(p+"/tune", map[string]any{"max_lease_ttl": "1s"}); statusOf(err) != http.StatusForbidden && statusOf(err) != http.StatusBadRequest {
			t.Fatalf("tune %s: %v", p, err)
		}
	}
	if got, err := s.client.KVv2("secret").Get(context.Background(), "keep"); err != nil || got.Data["v"] != "1" {
		t.Fatalf("the denied mount was changed: %+v %v", got, err)
	}
	if err := c.Sys().Mount("other", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatalf("the policy's grant still works: %v", err)
	}
}

// TestSudoOnTokenCreate: sudo on auth/token/create allows orphans and
// periodic tokens, as in Vault; without it both are refused.
func TestSudoOnTokenCreate(t *testing.T) {
	t.Parallel()
	s := start(t)
	for name, caps := range map[string]string{"plain": `["create", "update"]`, "sudoer": `["create", "update", "sudo"]`} {
		if err := s.client.Sys().PutPolicy(name, `path "auth/token/create" { capabilities = `+caps+` }`); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"plain": false, "sudoer": true} {
		tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		c := s.as(t, tok.Auth.ClientToken)
		for _, req := range []*api.TokenCreateRequest{{Policies: []string{name}, NoParent: true}, {Policies: []string{name}, Period: "1h"}} {
			_, err := c.Auth().Token().Create(req)
			if (err == nil) != want {
				t.Fatalf("%s creating %+v: err = %v", name, req, err)
			}
		}
	}
}
