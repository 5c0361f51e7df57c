package token

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// createCase is one TestCreate case: a create request as root, or as a
// child token holding policies [a b].
type createCase struct {
	asChild bool // create as a child token with policies [a b]
	path    string
	data    map[string]any
	wantErr error
	check   func(t *testing.T, a *logical.Auth, e *Entry)
}

func createCases() map[string]createCase {
	return map[string]createCase{
		"defaults from root": {data: map[string]any{}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.Policies, []string{"root"})
			eq(t, a.LeaseDuration, time.Duration(0))
			eq(t, a.Renewable, false)
			eq(t, e.DisplayName, "token")
			eq(t, e.Path, "auth/token/create")
			eq(t, a.TokenType, "service")
		}},
		"policies sorted with default": {data: map[string]any{"policies": "web,Db,web"}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.Policies, []string{"db", "default", "web"})
			eq(t, a.TokenPolicies, a.Policies)
			eq(t, a.LeaseDuration, 768*time.Hour)
			eq(t, a.Renewable, true)
			eq(t, a.Orphan, false)
			if !strings.HasPrefix(a.ClientToken, "s.") || len(a.ClientToken) != 26 || len(a.Accessor) != 24 {
				t.Fatalf("token %d chars, accessor %d chars", len(a.ClientToken), len(a.Accessor))
			}
		}},
		"no default policy": {data: map[string]any{"policies": []any{"web"}, "no_default_policy": true}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.Policies, []string{"web"})
		}},
		"ttl and meta and name": {data: map[string]any{"policies": "web", "ttl": "1h", "meta": map[string]any{"team": "x"}, "display_name": "ci bot", "num_uses": 3},
			check: func(t *testing.T, a *logical.Auth, e *Entry) {
				eq(t, a.LeaseDuration, time.Hour)
				eq(t, a.Metadata["team"], "x")
				eq(t, e.DisplayName, "token-ci-bot")
				eq(t, a.NumUses, 3)
			}},
		"explicit max caps ttl": {data: map[string]any{"policies": "web", "ttl": "10h", "explicit_max_ttl": "2h"}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.LeaseDuration, 2*time.Hour)
		}},
		"system max caps ttl": {data: map[string]any{"policies": "web", "ttl": "10000h"}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.LeaseDuration, 768*time.Hour)
		}},
		"periodic": {data: map[string]any{"policies": "web", "period": "30m", "ttl": "5h"}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.LeaseDuration, 30*time.Minute)
			eq(t, e.Period, 30*time.Minute)
		}},
		"non-renewable": {data: map[string]any{"policies": "web", "renewable": false}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.Renewable, false)
		}},
		"custom id by root": {data: map[string]any{"id": "my-dev-token", "policies": "web"}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.ClientToken, "my-dev-token")
		}},
		"orphan by root": {data: map[string]any{"no_parent": true, "policies": "web"}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.Orphan, true)
			eq(t, e.ParentHash, "")
		}},
		"child inherits policies": {asChild: true, data: map[string]any{}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.Policies, []string{"a", "b", "default"})
		}},
		"child subset": {asChild: true, data: map[string]any{"policies": "a"}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.Policies, []string{"a", "default"})
		}},
		"child create-orphan with sudo": {asChild: true, path: "create-orphan", data: map[string]any{"policies": "a"}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.Orphan, true)
			eq(t, e.Path, "auth/token/create-orphan")
		}},
		"child escalates":        {asChild: true, data: map[string]any{"policies": "a,c"}, wantErr: ErrPolicyEscalation},
		"child asks root":        {asChild: true, data: map[string]any{"policies": "root"}, wantErr: ErrPolicyEscalation},
		"child orphan denied":    {asChild: true, data: map[string]any{"no_parent": true}, wantErr: ErrOrphanDenied},
		"child periodic denied":  {asChild: true, data: map[string]any{"period": "1h"}, wantErr: ErrPeriodDenied},
		"child custom id denied": {asChild: true, data: map[string]any{"id": "chosen"}, wantErr: ErrCustomIDDenied},
		"negative uses":          {data: map[string]any{"num_uses": -1}, wantErr: ErrNegativeUses},
		"generated-looking id":   {data: map[string]any{"id": "s.abc"}, wantErr: ErrInvalidID},
		"batch type": {data: map[string]any{"type": "batch", "policies": "web", "ttl": "1h"}, check: func(t *testing.T, a *logical.Auth, e *Entry) {
			eq(t, a.TokenType, "batch")
			eq(t, e.Type, "batch")
			eq(t, a.Accessor, "")
			eq(t, a.Renewable, false)
			eq(t, a.Orphan, false)
			eq(t, a.LeaseDuration, time.Hour)
		}},
		"unknown type": {data: map[string]any{"type": "magic"}, wantErr: ErrInvalidTokenType},
		"lease is ttl's old name": {data: map[string]any{"policies": "web", "lease": "2h"}, check: func(t *testing.T, a *logical.Auth, _ *Entry) {
			eq(t, a.LeaseDuration, 2*time.Hour)
		}},
		"bad ttl":                   {data: map[string]any{"ttl": "soon"}, wantErr: logical.ErrInvalidRequest},
		"escalation is 400 not 500": {asChild: true, data: map[string]any{"policies": "z"}, wantErr: logical.ErrInvalidRequest},
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	cases := createCases()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			caller := h.root
			if tc.asChild {
				caller = h.create(t, h.root, map[string]any{"policies": "a,b"}).ClientToken
			}
			path := tc.path
			if path == "" {
				path = "create"
			}
			resp, err := h.call(logical.UpdateOperation, path, caller, tc.data)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := h.s.Lookup(t.Context(), resp.Auth.ClientToken)
			if err != nil || e == nil {
				t.Fatalf("lookup of new token: %v, %v", e, err)
			}
			tc.check(t, resp.Auth, e)
		})
	}
}

func TestCreateDuplicateID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create(t, h.root, map[string]any{"id": "dup"})
	_, err := h.call(logical.UpdateOperation, "create", h.root, map[string]any{"id": "dup"})
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("err = %v", err)
	}
}

func TestCreateFromAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	auth := &logical.Auth{Policies: []string{"web"}, DisplayName: "alice", LeaseDuration: time.Hour, Renewable: true}
	e, err := h.s.CreateFromAuth(t.Context(), auth, "auth/userpass/login/alice")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, e.DisplayName, "userpass-alice")
	eq(t, auth.Policies, []string{"default", "web"})
	eq(t, auth.Orphan, true)
	eq(t, auth.LeaseDuration, time.Hour)
	if !h.alive(t, auth.ClientToken) {
		t.Fatal("login token not found")
	}
}

func TestCreateRootCustomID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok, err := h.s.CreateRoot(t.Context(), "root")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := h.s.Lookup(t.Context(), tok)
	if e == nil || !e.IsRoot() || !e.ExpireTime.IsZero() || !e.Orphan {
		t.Fatalf("root entry %+v", e)
	}
}

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if g, w := any(got), any(want); !equalAny(g, w) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func equalAny(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, _ := b.([]string)
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestCreateFromAuthRefusesRoot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, pols := range [][]string{{"root"}, {"web", " Root "}} {
		_, err := h.s.CreateFromAuth(t.Context(), &logical.Auth{Policies: pols}, "auth/userpass/login/x")
		if !errors.Is(err, ErrRootFromLogin) {
			t.Fatalf("policies %q: err = %v", pols, err)
		}
	}
}

func TestRevokeByPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var ids []string
	for _, path := range []string{"auth/userpass/login/a", "auth/userpass/login/b", "auth/userpass2/login/c"} {
		auth := &logical.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour}
		if _, err := h.s.CreateFromAuth(t.Context(), auth, path); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, auth.ClientToken)
	}
	n, err := h.s.RevokeByPath(t.Context(), "auth/userpass/")
	if err != nil || n != 2 {
		t.Fatalf("revoked %d, err %v", n, err)
	}
	for i, want := range []bool{false, false, true} {
		if got := h.alive(t, ids[i]); got != want {
			t.Fatalf("token %d alive = %v, want %v", i, got, want)
		}
	}
	if !h.alive(t, h.root) {
		t.Fatal("the root token was revoked")
	}
}

// TestEntityInheritance: a login's token carries the entity the core found
// for it; tokens it creates inherit the entity, batch ones included,
// unless they are orphans, as in Vault.
func TestEntityInheritance(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	for _, typ := range []string{"service", "batch"} {
		auth := &logical.Auth{Policies: []string{"web"}, EntityID: "ent-1", TokenType: typ, LeaseDuration: time.Hour}
		e, err := h.s.CreateFromAuth(ctx, auth, "auth/userpass/login/alice")
		if err != nil || e.EntityID != "ent-1" || auth.EntityID != "ent-1" {
			t.Fatalf("%s login: %+v %v", typ, e, err)
		}
		self, err := h.call(logical.ReadOperation, "lookup-self", auth.ClientToken, nil)
		if err != nil || self.Data["entity_id"] != "ent-1" {
			t.Fatalf("%s lookup-self: %+v %v", typ, self, err)
		}
		if typ == "batch" {
			continue
		}
		for name, tc := range map[string]struct {
			path string
			data map[string]any
			want string
		}{
			"child":        {"create", map[string]any{"policies": "web"}, "ent-1"},
			"batch child":  {"create", map[string]any{"policies": "web", "type": "batch"}, "ent-1"},
			"orphan child": {"create-orphan", map[string]any{"policies": "web"}, ""},
		} {
			resp, err := h.call(logical.UpdateOperation, tc.path, auth.ClientToken, tc.data)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := h.s.Lookup(ctx, resp.Auth.ClientToken)
			if err != nil || got == nil || got.EntityID != tc.want || resp.Auth.EntityID != tc.want {
				t.Errorf("%s: entity %q (auth %q), want %q (%v)", name, got.EntityID, resp.Auth.EntityID, tc.want, err)
			}
		}
	}
	// Only the core sets an entity: a token's create request cannot.
	child := h.create(t, h.root, map[string]any{"policies": "web"})
	if e, _ := h.s.Lookup(ctx, child.ClientToken); e.EntityID != "" {
		t.Fatalf("root's child got entity %q", e.EntityID)
	}
}
