package token

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// writeCountingStorage counts reads and writes, to show what a batch token
// costs the storage.
type writeCountingStorage struct {
	logical.Storage
	mu         sync.Mutex
	gets, puts int
}

func (c *writeCountingStorage) Get(ctx context.Context, k string) (*logical.StorageEntry, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Storage.Get(ctx, k)
}

func (c *writeCountingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return c.Storage.Put(ctx, e)
}

func (c *writeCountingStorage) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.puts
}

// TestBatchNeverTouchesStorage: creating an orphan batch token writes
// nothing, and authenticating with it reads nothing.
func TestBatchNeverTouchesStorage(t *testing.T) {
	t.Parallel()
	cs := &writeCountingStorage{Storage: logical.NewInmemStorage()}
	s, err := New(t.Context(), Config{Storage: cs})
	if err != nil {
		t.Fatal(err)
	}
	g0, p0 := cs.counts()
	tok, e, err := s.Create(t.Context(), nil, CreateRequest{Type: TypeBatch, Policies: []string{"web"}, TTL: time.Hour, Meta: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "b.") || e.Accessor != "" || e.Hash != "" || e.Renewable {
		t.Fatalf("token %q entry %+v", tok, e)
	}
	for range 5 {
		got, err := s.Use(t.Context(), tok)
		if err != nil || got == nil {
			t.Fatalf("use: %v %v", got, err)
		}
		eq(t, got.Policies, []string{"default", "web"})
		eq(t, got.Meta["k"], "v")
		eq(t, got.Type, TypeBatch)
	}
	if g, p := cs.counts(); g != g0 || p != p0 {
		t.Fatalf("batch token cost %d reads and %d writes", g-g0, p-p0)
	}
	keys, _ := logical.CollectKeys(t.Context(), cs, "")
	for _, k := range keys {
		if strings.HasPrefix(k, idPrefix) {
			t.Fatalf("batch token stored at %q", k)
		}
	}
}

func TestBatchLookupShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web", "ttl": "10m", "display_name": "ci"})
	resp, err := h.call(logical.ReadOperation, "lookup-self", b.ClientToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := resp.Data
	eq(t, d["id"], any(b.ClientToken))
	eq(t, d["accessor"], any(""))
	eq(t, d["type"], any("batch"))
	eq(t, d["renewable"], any(false))
	eq(t, d["orphan"], any(false))
	eq(t, d["ttl"], any(int64(600)))
	eq(t, d["creation_ttl"], any(int64(600)))
	eq(t, d["display_name"], any("token-ci"))
	eq(t, d["path"], any("auth/token/create"))
	eq(t, d["num_uses"], any(0))
	eq(t, d["policies"].([]string), []string{"default", "web"})
	resp, err = h.call(logical.UpdateOperation, "lookup", h.root, map[string]any{"token": b.ClientToken})
	if err != nil || resp.Data["type"] != "batch" {
		t.Fatalf("lookup by token: %v %v", resp, err)
	}
}

func TestBatchRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	batch := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web"}).ClientToken
	cases := map[string]struct {
		path, tok string
		data      map[string]any
		want      error
		msg       string
	}{
		"num_uses":         {path: "create", data: map[string]any{"type": "batch", "policies": "web", "num_uses": 2}, want: logical.ErrInvalidRequest, msg: `batch tokens cannot have "num_uses" set`},
		"period":           {path: "create", data: map[string]any{"type": "batch", "policies": "web", "period": "1h"}, want: logical.ErrInvalidRequest, msg: `"period"`},
		"explicit max":     {path: "create", data: map[string]any{"type": "batch", "policies": "web", "explicit_max_ttl": "1h"}, want: logical.ErrInvalidRequest, msg: `"explicit_max_ttl"`},
		"custom id":        {path: "create", data: map[string]any{"type": "batch", "policies": "web", "id": "mine"}, want: ErrBatchCustomID},
		"root inherited":   {path: "create", data: map[string]any{"type": "batch"}, want: ErrBatchRoot},
		"root asked":       {path: "create", data: map[string]any{"type": "batch", "policies": "root"}, want: ErrBatchRoot},
		"no children":      {path: "create", tok: batch, data: map[string]any{"policies": "web"}, want: ErrBatchParent},
		"no batch child":   {path: "create", tok: batch, data: map[string]any{"type": "batch"}, want: ErrBatchParent},
		"renew":            {path: "renew", data: map[string]any{"token": batch}, want: ErrBatchNotRenewable},
		"renew-self":       {path: "renew-self", tok: batch, want: ErrBatchNotRenewable},
		"revoke":           {path: "revoke", data: map[string]any{"token": batch}, want: ErrBatchNotRevocable},
		"revoke-orphan":    {path: "revoke-orphan", data: map[string]any{"token": batch}, want: ErrBatchNotRevocable},
		"revoke-self":      {path: "revoke-self", tok: batch, want: ErrBatchNotRevocable},
		"renew forged":     {path: "renew", data: map[string]any{"token": "b.forged"}, want: ErrBadToken},
		"revoke-self gone": {path: "revoke-self", tok: "b.forged", want: ErrNoCaller},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok := tc.tok
			if tok == "" {
				tok = h.root
			}
			_, err := h.call(logical.UpdateOperation, tc.path, tok, tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(errMsg(err), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if !h.alive(t, batch) {
		t.Fatal("a refused revocation killed the batch token")
	}
}

func errMsg(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestBatchExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web", "ttl": "90s"})
	h.clock.Advance(89 * time.Second)
	if !h.alive(t, b.ClientToken) {
		t.Fatal("batch token died before its TTL")
	}
	h.clock.Advance(time.Second)
	if e, err := h.s.Use(t.Context(), b.ClientToken); e != nil || err != nil {
		t.Fatalf("expired batch token still authenticates: %+v %v", e, err)
	}
}

// TestBatchDiesWithParent: a batch child of a service token stops working
// when the parent is revoked; an orphan batch token does not.
func TestBatchDiesWithParent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	parent := h.create(t, h.root, map[string]any{"policies": "web"})
	child := h.create(t, parent.ClientToken, map[string]any{"type": "batch"})
	orphan := h.create(t, parent.ClientToken, map[string]any{"type": "batch"})
	if _, err := h.call(logical.UpdateOperation, "create-orphan", h.root, map[string]any{"type": "batch", "policies": "web"}); err != nil {
		t.Fatal(err)
	}
	lone := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web", "no_parent": true})
	eq(t, lone.Orphan, true)
	eq(t, child.Orphan, false)
	if !h.alive(t, child.ClientToken) || !h.alive(t, orphan.ClientToken) {
		t.Fatal("batch children dead before their parent")
	}
	if err := h.s.Revoke(t.Context(), h.s.HashID(parent.ClientToken)); err != nil {
		t.Fatal(err)
	}
	if h.alive(t, child.ClientToken) {
		t.Fatal("batch child outlived its revoked parent")
	}
	if !h.alive(t, lone.ClientToken) {
		t.Fatal("orphan batch token died with an unrelated revocation")
	}
}

// TestBatchTampered: anything that is not a genuine token of this store is
// simply not a token: nil, nil, never an error (which would be a 500).
func TestBatchTampered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web"}).ClientToken
	other := newHarness(t)
	foreign := other.create(t, other.root, map[string]any{"type": "batch", "policies": "web"}).ClientToken
	raw, _ := base64.RawURLEncoding.DecodeString(good[2:])
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return "b." + base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"flipped version":   flip(0),
		"flipped nonce":     flip(3),
		"flipped body":      flip(len(raw) / 2),
		"flipped tag":       flip(len(raw) - 1),
		"truncated":         good[:len(good)-4],
		"only prefix":       "b.",
		"not base64":        "b.!!!!",
		"padded base64":     good + "==",
		"other store's key": foreign,
		"huge":              "b." + strings.Repeat("A", maxBatchLen),
		"short":             "b." + base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3}),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, fn := range []func(context.Context, string) (*Entry, error){h.s.Use, h.s.Lookup} {
				if e, err := fn(t.Context(), tok); e != nil || err != nil {
					t.Fatalf("accepted: %+v %v", e, err)
				}
			}
			if _, err := h.call(logical.ReadOperation, "lookup-self", tok, nil); !errors.Is(err, logical.ErrPermissionDenied) {
				t.Fatalf("lookup-self: %v", err)
			}
		})
	}
}

// TestBatchKeyPersists: the key is generated once and kept in the store's
// view, so batch tokens survive a restart (seal and unseal) of the store.
func TestBatchKeyPersists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.create(t, h.root, map[string]any{"type": "batch", "policies": "web"})
	key, _ := h.storage.Get(t.Context(), batchKeyName)
	s2, err := New(t.Context(), Config{Storage: h.storage, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s2.Lookup(t.Context(), b.ClientToken); e == nil {
		t.Fatal("batch token lost when the store was reopened")
	}
	again, _ := h.storage.Get(t.Context(), batchKeyName)
	if key == nil || string(key.Value) != string(again.Value) {
		t.Fatal("batch key regenerated on reopen")
	}
	bad := logical.NewInmemStorage()
	_ = bad.Put(t.Context(), &logical.StorageEntry{Key: batchKeyName, Value: []byte("short")})
	if _, err := New(t.Context(), Config{Storage: bad}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short batch key: %v", err)
	}
}

func TestBatchFromAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, typ := range []string{"batch", "default-batch"} {
		auth := &logical.Auth{Policies: []string{"web"}, DisplayName: "alice", LeaseDuration: 2 * time.Hour, ExplicitMaxTTL: time.Hour, Renewable: true, TokenType: typ}
		e, err := h.s.CreateFromAuth(t.Context(), auth, "auth/userpass/login/alice")
		if err != nil {
			t.Fatal(err)
		}
		if !IsBatch(auth.ClientToken) || auth.TokenType != TypeBatch || auth.Accessor != "" || auth.Renewable {
			t.Fatalf("%s: %+v", typ, auth)
		}
		eq(t, auth.LeaseDuration, time.Hour)
		eq(t, e.Orphan, true)
		eq(t, e.DisplayName, "userpass-alice")
	}
	for name, auth := range map[string]*logical.Auth{
		"period":   {Policies: []string{"web"}, TokenType: "batch", Period: time.Hour},
		"num_uses": {Policies: []string{"web"}, TokenType: "batch", NumUses: 3},
		"bad type": {Policies: []string{"web"}, TokenType: "gold"},
	} {
		if _, err := h.s.CreateFromAuth(t.Context(), auth, "auth/userpass/login/x"); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
}

// TestBatchDiesWithAuthMount: batch tokens cannot be revoked one by one, so
// disabling the auth method that issued them (RevokeByPath) must still stop
// them, and not those of a method mounted there again later.
func TestBatchDiesWithAuthMount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	login := func(path string) string {
		auth := &logical.Auth{Policies: []string{"web"}, LeaseDuration: time.Hour, TokenType: "batch"}
		if _, err := h.s.CreateFromAuth(t.Context(), auth, path); err != nil {
			t.Fatal(err)
		}
		return auth.ClientToken
	}
	gone, kept := login("auth/userpass/login/a"), login("auth/userpass2/login/b")
	if _, err := h.s.RevokeByPath(t.Context(), "auth/userpass/"); err != nil {
		t.Fatal(err)
	}
	if h.alive(t, gone) {
		t.Fatal("batch token of a disabled auth method still works")
	}
	if !h.alive(t, kept) {
		t.Fatal("batch token of another auth method died")
	}
	h.clock.Advance(time.Second)
	fresh := login("auth/userpass/login/a")
	reopened, err := New(t.Context(), Config{Storage: h.storage, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := reopened.Lookup(t.Context(), gone); e != nil {
		t.Fatal("cut-off forgotten on reopen")
	}
	if e, _ := reopened.Lookup(t.Context(), fresh); e == nil {
		t.Fatal("a login after the method came back is dead")
	}
}

// FuzzBatchToken: no input makes the batch parser panic, error or accept
// something this store did not issue; a genuine token with any single
// character changed is refused.
func FuzzBatchToken(f *testing.F) {
	h := newHarness(f)
	good := h.create(f, h.root, map[string]any{"type": "batch", "policies": "web", "meta": map[string]any{"a": "b"}}).ClientToken
	for _, seed := range []string{good, "b.", "b.AAAA", "b." + strings.Repeat("_", 40), "s.x", good[:len(good)/2], good + "A"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		e, err := h.s.Lookup(context.Background(), tok)
		if err != nil {
			t.Fatalf("error for %q: %v", tok, err)
		}
		if e != nil && tok != good {
			t.Fatalf("accepted a token this store never issued: %q", tok)
		}
	})
}

func TestBatchClaimsRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]batchClaims{
		"empty":  {TTL: 1},
		"full":   {Parent: "p", Policies: []string{"a", "default"}, Path: "auth/x/login/y", Meta: map[string]string{"k": "v", "": "e"}, Display: "d", Created: -5, TTL: 3600, Role: "r", CIDRs: []string{"10.0.0.0/8"}},
		"unicod": {Path: "é/ü", Meta: map[string]string{"ключ": "значение"}, Created: 1 << 40, TTL: 1},
		"entity": {Policies: []string{"a"}, TTL: 60, Entity: "0b8e5c2e-7f1c-4d7e-9a51-3f6c1d2e4b5a"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeClaims(c.encode(), batchVersion)
			if err != nil {
				t.Fatal(err)
			}
			if !sameClaims(got, c) {
				t.Fatalf("got %+v, want %+v", got, c)
			}
			enc := c.encode()
			for i := range len(enc) {
				if _, err := decodeClaims(enc[:i], batchVersion); err == nil {
					t.Fatalf("a prefix of %d bytes decoded", i)
				}
			}
			if _, err := decodeClaims(append(enc, 0), batchVersion); err == nil {
				t.Fatal("trailing bytes accepted")
			}
		})
	}
}

// FuzzBatchClaims: the claims decoder never panics or allocates beyond its
// input on any bytes, and what it accepts survives encoding and decoding
// again unchanged.
func FuzzBatchClaims(f *testing.F) {
	f.Add((&batchClaims{TTL: 1}).encode())
	f.Add((&batchClaims{Parent: "p", Policies: []string{"a"}, Meta: map[string]string{"k": "v"}, TTL: 60}).encode())
	f.Add((&batchClaims{TTL: 60, Entity: "e"}).encode())
	f.Add([]byte{0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeClaims(b, batchVersion)
		if err != nil {
			return
		}
		again, err := decodeClaims(c.encode(), batchVersion)
		if err != nil || !sameClaims(again, c) {
			t.Fatalf("%+v changed to %+v (%v)", c, again, err)
		}
	})
}

func sameClaims(a, b batchClaims) bool {
	return a.Parent == b.Parent && a.Path == b.Path && a.Display == b.Display && a.Role == b.Role &&
		a.Created == b.Created && a.TTL == b.TTL && slices.Equal(a.Policies, b.Policies) &&
		slices.Equal(a.CIDRs, b.CIDRs) && maps.Equal(a.Meta, b.Meta) && a.Entity == b.Entity
}

// TestBatchClaimsVersion1: claims sealed before tokens carried an entity
// (version 1) still decode, without one; the same bytes are short for
// version 2.
func TestBatchClaimsVersion1(t *testing.T) {
	t.Parallel()
	c := batchClaims{Policies: []string{"a"}, TTL: 60, Entity: "e1"}
	enc := c.encode()
	v1 := enc[:len(enc)-3] // without the entity's length and bytes
	got, err := decodeClaims(v1, batchVersionNoEntity)
	if err != nil || got.Entity != "" || got.TTL != 60 || !slices.Equal(got.Policies, []string{"a"}) {
		t.Fatalf("version 1: %+v %v", got, err)
	}
	if _, err := decodeClaims(v1, batchVersion); err == nil {
		t.Fatal("version 1 bytes decoded as version 2")
	}
	if _, err := decodeClaims(enc, batchVersionNoEntity); err == nil {
		t.Fatal("version 2 bytes decoded as version 1")
	}
}

// TestBatchVersion1TokenOpens: a batch token sealed before tokens carried
// an entity (version byte 1) still authenticates after the upgrade.
func TestBatchVersion1TokenOpens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := batchClaims{Policies: []string{"default", "web"}, Path: "auth/token/create", Created: h.clock.Now().Unix(), TTL: 3600}
	enc := c.encode()
	pt := enc[:len(enc)-1] // version 1 had no entity: drop its empty length byte
	ns := h.s.batch.NonceSize()
	buf := make([]byte, 1+ns)
	buf[0] = batchVersionNoEntity
	buf = h.s.batch.Seal(buf, buf[1:1+ns], pt, []byte(batchAD))
	e, err := h.s.Lookup(context.Background(), batchPrefix+batchEncoding.EncodeToString(buf))
	if err != nil || e == nil || !slices.Equal(e.Policies, c.Policies) || e.EntityID != "" {
		t.Fatalf("version 1 token: %+v %v", e, err)
	}
}
