package approle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestSecretIDsStoredHashed checks that no key or value of the mount's
// storage holds a secret ID in the clear, that the role ID (readable by
// design at role-id) is in no key, and that the stored entry is found
// through the mount's own HMAC key only.
func TestSecretIDsStoredHashed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	secretID, _ := h.secretID(t, "web", map[string]any{"metadata": `{"host":"a"}`})
	custom := "my-own-secret-id-value"
	h.mustDo(t, logical.UpdateOperation, "role/web/custom-secret-id", map[string]any{"secret_id": custom})
	for _, dump := range dumpStorage(t, h.storage) {
		for _, secret := range []string{secretID, custom} {
			if strings.Contains(dump, secret) {
				t.Fatalf("storage holds a secret ID in the clear: %s", dump)
			}
		}
		if key, _, _ := strings.Cut(dump, " = "); strings.Contains(key, roleID) {
			t.Fatalf("a storage key holds the role ID: %s", key)
		}
	}
	if _, err := h.storage.Get(context.Background(), entryKey(h.b.secrets.mac("web"), h.b.secrets.mac(secretID))); err != nil {
		t.Fatal(err)
	}
	// Another mount has another key: the same secret ID digests differently.
	other := newHarness(t)
	if other.b.secrets.mac(secretID) == h.b.secrets.mac(secretID) {
		t.Fatal("two mounts share an HMAC key")
	}
	if e, _ := h.storage.Get(context.Background(), saltKey); e == nil || len(e.Value) != saltLen {
		t.Fatal("salt not kept in the mount's storage")
	}
}

func dumpStorage(t testing.TB, s *logical.InmemStorage) []string {
	t.Helper()
	var out []string
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := s.List(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, _ := s.Get(context.Background(), prefix+k)
			out = append(out, prefix+k+" = "+string(e.Value))
		}
	}
	walk("")
	return out
}

// TestTamperedEntryRefused checks the constant-time comparison of the
// digest stored inside an entry: an entry copied under another secret ID's
// key is an internal error, never a login.
func TestTamperedEntryRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	real, _ := h.secretID(t, "web", nil)
	ctx := context.Background()
	roleHMAC := h.b.secrets.mac("web")
	e, _ := h.storage.Get(ctx, entryKey(roleHMAC, h.b.secrets.mac(real)))
	forged := "forged-secret-id"
	if err := h.storage.Put(ctx, &logical.StorageEntry{Key: entryKey(roleHMAC, h.b.secrets.mac(forged)), Value: e.Value}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.login(roleID, forged, "127.0.0.1:1"); !errors.Is(err, errCorrupt) {
		t.Fatalf("forged entry: %v", err)
	}
}

// TestNumUsesUnderConcurrency checks that a secret ID with num_uses=n
// admits exactly n logins when many more race for it, and is gone after.
func TestNumUsesUnderConcurrency(t *testing.T) {
	t.Parallel()
	const uses, racers = 5, 64
	h := newHarnessOn(t, logical.NewInmemStorage(), true)
	roleID := h.role(t, "web", map[string]any{"secret_id_num_uses": uses})
	secretID, accessor := h.secretID(t, "web", nil)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range racers {
		wg.Go(func() {
			<-start
			_, err := h.login(roleID, secretID, "127.0.0.1:1")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrInvalidCredentials), errors.Is(err, logical.ErrRateLimited):
				// A used-up secret ID, or the failures' throttle after ten.
				refused.Add(1)
			default:
				t.Errorf("login: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != uses || refused.Load() != racers-uses {
		t.Fatalf("%d logins, %d refused; want %d and %d", ok.Load(), refused.Load(), uses, racers-uses)
	}
	if e, err := h.b.secrets.lookupAccessor(context.Background(), "web", accessor); err != nil || e != nil {
		t.Fatalf("used-up secret ID still stored: %+v %v", e, err)
	}
	if keys, _ := h.storage.List(context.Background(), accessorPrefix); len(keys) != 0 {
		t.Fatalf("accessor left behind: %v", keys)
	}
}

// TestNumUsesCountDown checks the count a lookup reports between logins.
func TestNumUsesCountDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	secretID, _ := h.secretID(t, "web", map[string]any{"num_uses": 3})
	for want := 2; want >= 0; want-- {
		if _, err := h.login(roleID, secretID, "127.0.0.1:1"); err != nil {
			t.Fatalf("login with %d left: %v", want+1, err)
		}
		r, err := h.do(logical.UpdateOperation, "role/web/secret-id/lookup", map[string]any{"secret_id": secretID})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want == 0 && r != nil:
			t.Fatalf("used-up secret ID still looked up: %v", r.Data)
		case want > 0 && (r == nil || r.Data["secret_id_num_uses"] != want):
			t.Fatalf("uses left = %v, want %d", r, want)
		}
	}
	if _, err := h.login(roleID, secretID, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("fourth login: %v", err)
	}
}

// TestExpiry checks that a secret ID past its TTL is refused (and removed)
// at login even before tidy runs, and that the TTL is capped by the role
// and the mount.
func TestExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", map[string]any{"secret_id_ttl": "10m"})
	secretID, accessor := h.secretID(t, "web", nil)
	short, _ := h.secretID(t, "web", map[string]any{"ttl": "1m"})
	h.clock.advance(59 * time.Second)
	if _, err := h.login(roleID, short, "127.0.0.1:1"); err != nil {
		t.Fatalf("login before expiry: %v", err)
	}
	h.clock.advance(time.Second)
	if _, err := h.login(roleID, short, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login at expiry: %v", err)
	}
	h.clock.advance(9 * time.Minute)
	if _, err := h.login(roleID, secretID, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login after the role's TTL: %v", err)
	}
	if e, _ := h.b.secrets.lookupAccessor(context.Background(), "web", accessor); e != nil {
		t.Fatal("expired secret ID kept after a refused login")
	}
	// A TTL beyond the mount's maximum is capped to it.
	h.role(t, "long", nil)
	r := h.mustDo(t, logical.UpdateOperation, "role/long/secret-id", map[string]any{"ttl": "1000h"})
	if r.Data["secret_id_ttl"] != int64(24*3600) {
		t.Fatalf("ttl = %v, want the mount's 24h", r.Data["secret_id_ttl"])
	}
}

// TestCIDRs checks the role's secret_id_bound_cidrs and the secret ID's
// cidr_list against the caller's address, and that a refused address burns
// no use.
func TestCIDRs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "lan", map[string]any{"secret_id_bound_cidrs": "10.0.0.0/8,2001:db8::/32"})
	wide, _ := h.secretID(t, "lan", nil)
	narrow, _ := h.secretID(t, "lan", map[string]any{"cidr_list": "10.1.0.0/16", "num_uses": 1})
	cases := map[string]struct {
		secret, remote string
		ok             bool
	}{
		"inside role":           {wide, "10.9.9.9:1", true},
		"inside role v6":        {wide, "[2001:db8::5]:1", true},
		"outside role":          {wide, "192.168.0.1:1", false},
		"unparsable remote":     {wide, "pipe", false},
		"outside secret's list": {narrow, "10.2.0.1:1", false},
		"outside both":          {narrow, "8.8.8.8:1", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := h.login(roleID, tc.secret, tc.remote)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalidCredentials)) {
				t.Fatalf("login from %s: %v", tc.remote, err)
			}
		})
	}
	// The refused attempts did not spend narrow's single use.
	if _, err := h.login(roleID, narrow, "10.1.2.3:1"); err != nil {
		t.Fatalf("narrow from inside: %v", err)
	}
	// A secret ID's list must lie inside the role's.
	if _, err := h.do(logical.UpdateOperation, "role/lan/secret-id", map[string]any{"cidr_list": "192.168.0.0/16"}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("cidr_list outside the role's: %v", err)
	}
	// Narrowing the role afterwards disowns secret IDs outside it.
	third, _ := h.secretID(t, "lan", map[string]any{"cidr_list": "10.3.0.0/16"})
	h.mustDo(t, logical.UpdateOperation, "role/lan", map[string]any{"secret_id_bound_cidrs": "10.1.0.0/16"})
	if _, err := h.login(roleID, third, "10.3.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("secret ID outside the narrowed role: %v", err)
	}
}

// TestTidy checks that tidy deletes expired secret IDs with their accessors
// and dangling records, and keeps the live ones.
func TestTidy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	live, _ := h.secretID(t, "web", map[string]any{"ttl": "1h"})
	forever, _ := h.secretID(t, "web", nil)
	for range 3 {
		h.secretID(t, "web", map[string]any{"ttl": "1m"})
	}
	ctx := context.Background()
	// A dangling accessor, as a crash between two writes leaves behind.
	dangling, _ := logical.JSONEntry(accessorPrefix+"abc", accessorEntry{SecretIDHMAC: "x", RoleHMAC: "y", Accessor: "abc"})
	if err := h.storage.Put(ctx, dangling); err != nil {
		t.Fatal(err)
	}
	h.clock.advance(2 * time.Minute)
	res, err := h.b.secrets.tidy(ctx)
	if err != nil || res.Expired != 3 || res.Dangling != 1 {
		t.Fatalf("tidy = %+v, %v", res, err)
	}
	keys, _ := h.storage.List(ctx, secretPrefix+h.b.secrets.mac("web")+"/")
	accessors, _ := h.storage.List(ctx, accessorPrefix)
	if len(keys) != 2 || len(accessors) != 2 {
		t.Fatalf("after tidy: %d secret IDs, %d accessors; want 2 and 2", len(keys), len(accessors))
	}
	for _, s := range []string{live, forever} {
		if _, err := h.login(roleID, s, "127.0.0.1:1"); err != nil {
			t.Fatalf("live secret ID refused after tidy: %v", err)
		}
	}
	if res, err := h.b.secrets.tidy(ctx); err != nil || res != (tidyResult{}) {
		t.Fatalf("second tidy = %+v, %v", res, err)
	}
}

// TestSaltRejectsCorruption checks that a damaged HMAC key keeps the mount
// from loading rather than hashing under a different key.
func TestSaltRejectsCorruption(t *testing.T) {
	t.Parallel()
	s := logical.NewInmemStorage()
	_ = s.Put(context.Background(), &logical.StorageEntry{Key: saltKey, Value: bytes.Repeat([]byte{1}, 5)})
	if _, err := openSecretStore(context.Background(), s, time.Now); !errors.Is(err, errCorrupt) {
		t.Fatalf("short salt: %v", err)
	}
}
