package token

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestLookupRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.create(t, h.root, map[string]any{"policies": "web", "ttl": "1h", "meta": map[string]any{"k": "v"}, "period": "2h"})
	plain := h.create(t, h.root, map[string]any{"policies": "web"})
	cases := map[string]struct {
		op      logical.Operation
		path    string
		tok     string
		data    map[string]any
		wantErr error
		wantID  string
		check   func(t *testing.T, d map[string]any)
	}{
		"lookup-self read":   {op: logical.ReadOperation, path: "lookup-self", tok: a.ClientToken, wantID: a.ClientToken},
		"lookup-self update": {op: logical.UpdateOperation, path: "lookup-self", tok: a.ClientToken, wantID: a.ClientToken},
		"lookup by token":    {op: logical.UpdateOperation, path: "lookup", tok: h.root, data: map[string]any{"token": a.ClientToken}, wantID: a.ClientToken},
		"lookup-accessor":    {op: logical.UpdateOperation, path: "lookup-accessor", tok: h.root, data: map[string]any{"accessor": a.Accessor}, wantID: ""},
		"meta null when empty": {op: logical.UpdateOperation, path: "lookup", tok: h.root, data: map[string]any{"token": plain.ClientToken}, wantID: plain.ClientToken,
			check: func(t *testing.T, d map[string]any) {
				if d["meta"] != nil {
					t.Fatalf("meta = %#v", d["meta"])
				}
				if _, ok := d["period"]; ok {
					t.Fatal("period set on a non-periodic token")
				}
			}},
		"root never expires": {op: logical.ReadOperation, path: "lookup-self", tok: h.root, wantID: h.root, check: func(t *testing.T, d map[string]any) {
			eq(t, d["expire_time"], any(nil))
			eq(t, d["ttl"], any(int64(0)))
			eq(t, d["path"], any("auth/token/root"))
		}},
		"unknown token":     {op: logical.UpdateOperation, path: "lookup", tok: h.root, data: map[string]any{"token": "s.nope"}, wantErr: logical.ErrPermissionDenied},
		"bad self":          {op: logical.ReadOperation, path: "lookup-self", tok: "s.nope", wantErr: ErrBadToken},
		"get with query":    {op: logical.ReadOperation, path: "lookup", tok: h.root, data: map[string]any{"token": a.ClientToken}, wantID: a.ClientToken},
		"no token is self":  {op: logical.UpdateOperation, path: "lookup", tok: a.ClientToken, wantID: a.ClientToken},
		"get without token": {op: logical.ReadOperation, path: "lookup", tok: a.ClientToken, wantID: a.ClientToken},
		// As in Vault: a token in the path would end up in access logs.
		"token in path":    {op: logical.ReadOperation, path: "lookup/" + a.ClientToken, tok: h.root, wantErr: logical.ErrUnsupportedPath},
		"unknown accessor": {op: logical.UpdateOperation, path: "lookup-accessor", tok: h.root, data: map[string]any{"accessor": "x"}, wantErr: ErrInvalidAccessor},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := h.call(tc.op, tc.path, tc.tok, tc.data)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := resp.Data
			eq(t, d["id"], any(tc.wantID))
			for _, k := range []string{"accessor", "creation_time", "creation_ttl", "display_name", "entity_id", "expire_time", "explicit_max_ttl", "issue_time", "meta", "num_uses", "orphan", "path", "policies", "renewable", "ttl", "type"} {
				if _, ok := d[k]; !ok {
					t.Errorf("missing field %q", k)
				}
			}
			if tc.check != nil {
				tc.check(t, d)
				return
			}
			eq(t, d["accessor"], any(a.Accessor))
			eq(t, d["creation_ttl"], any(int64(7200)))
			eq(t, d["ttl"], any(int64(7200)))
			eq(t, d["period"], any(int64(7200)))
			eq(t, d["type"], any("service"))
			eq(t, d["meta"].(map[string]string)["k"], "v")
			if _, err := time.Parse(time.RFC3339, d["expire_time"].(string)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		create  map[string]any
		advance time.Duration
		renew   map[string]any
		self    bool
		wantErr error
		wantTTL time.Duration
	}{
		"increment":                  {create: map[string]any{"ttl": "1h"}, advance: 30 * time.Minute, renew: map[string]any{"increment": "2h"}, wantTTL: 2 * time.Hour},
		"default is creation ttl":    {create: map[string]any{"ttl": "1h"}, advance: 30 * time.Minute, wantTTL: time.Hour, self: true},
		"explicit max caps":          {create: map[string]any{"ttl": "1h", "explicit_max_ttl": "90m"}, advance: 45 * time.Minute, renew: map[string]any{"increment": "10h"}, wantTTL: 45 * time.Minute},
		"system max caps":            {create: map[string]any{"ttl": "700h"}, advance: 600 * time.Hour, renew: map[string]any{"increment": "700h"}, wantTTL: 168 * time.Hour},
		"periodic":                   {create: map[string]any{"period": "1h"}, advance: 50 * time.Minute, renew: map[string]any{"increment": "10h"}, wantTTL: time.Hour},
		"periodic capped":            {create: map[string]any{"period": "1h", "explicit_max_ttl": "80m"}, advance: 50 * time.Minute, wantTTL: 30 * time.Minute},
		"periodic beyond system max": {create: map[string]any{"period": "24h"}, advance: 23 * time.Hour, wantTTL: 24 * time.Hour, self: true},
		"not renewable":              {create: map[string]any{"ttl": "1h", "renewable": false}, wantErr: ErrNotRenewable},
		"root not renewable":         {create: map[string]any{"policies": "root"}, wantErr: ErrNotRenewable},
		"expired":                    {create: map[string]any{"ttl": "1h"}, advance: 2 * time.Hour, wantErr: ErrBadToken},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.create["policies"] == nil {
				tc.create["policies"] = "web"
			}
			a := h.create(t, h.root, tc.create)
			h.clock.Advance(tc.advance)
			var resp *logical.Response
			var err error
			if tc.self {
				resp, err = h.call(logical.UpdateOperation, "renew-self", a.ClientToken, tc.renew)
			} else {
				data := map[string]any{"token": a.ClientToken}
				for k, v := range tc.renew {
					data[k] = v
				}
				resp, err = h.call(logical.UpdateOperation, "renew", h.root, data)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, resp.Auth.LeaseDuration, tc.wantTTL)
			eq(t, resp.Auth.ClientToken, a.ClientToken)
			// The cache must not serve the pre-renewal entry.
			l, err := h.call(logical.UpdateOperation, "lookup", h.root, map[string]any{"token": a.ClientToken})
			if err != nil {
				t.Fatal(err)
			}
			eq(t, l.Data["ttl"], any(int64(tc.wantTTL/time.Second)))
		})
	}
}
