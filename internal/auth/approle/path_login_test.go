package approle

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

func TestLoginAuthShape(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", map[string]any{
		"token_policies": "ops,dev", "token_ttl": "1h", "token_max_ttl": "4h", "token_num_uses": 7,
		"token_bound_cidrs": "10.0.0.0/8",
	})
	secretID, _ := h.secretID(t, "web", map[string]any{"metadata": map[string]any{"host": "build-1"}, "token_bound_cidrs": "10.1.0.0/16"})
	r, err := h.login(roleID, " "+secretID+" ", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"host": "build-1", "role_name": "web"}
	want := &logical.Auth{
		Policies: []string{"dev", "ops"}, Metadata: meta, LeaseDuration: time.Hour, ExplicitMaxTTL: 4 * time.Hour,
		NumUses: 7, Renewable: true, TokenType: "service", BoundCIDRs: []string{"10.1.0.0/16"},
		Alias: &logical.Alias{Name: roleID, Metadata: meta},
	}
	if !reflect.DeepEqual(r.Auth, want) {
		t.Fatalf("auth = %+v\nwant   %+v", r.Auth, want)
	}
	if r.Data != nil || r.Secret != nil {
		t.Fatalf("login returned more than Auth: %+v", r)
	}
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	secretID, _ := h.secretID(t, "web", nil)
	otherRole := h.role(t, "db", nil)
	cases := map[string]struct {
		data map[string]any
		want error
	}{
		"missing role_id":         {map[string]any{"secret_id": secretID}, logical.ErrInvalidRequest},
		"missing secret_id":       {map[string]any{"role_id": roleID}, logical.ErrInvalidRequest},
		"unknown role_id":         {map[string]any{"role_id": "nope", "secret_id": secretID}, ErrInvalidCredentials},
		"wrong secret_id":         {map[string]any{"role_id": roleID, "secret_id": "nope"}, ErrInvalidCredentials},
		"another role's secret":   {map[string]any{"role_id": otherRole, "secret_id": secretID}, ErrInvalidCredentials},
		"oversized secret_id":     {map[string]any{"role_id": roleID, "secret_id": string(make([]byte, 5000))}, ErrInvalidCredentials},
		"oversized role_id":       {map[string]any{"role_id": string(make([]byte, 5000)), "secret_id": secretID}, ErrInvalidCredentials},
		"secret_id of wrong type": {map[string]any{"role_id": roleID, "secret_id": map[string]any{}}, logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := h.doFrom(logical.UpdateOperation, "login", tc.data, "127.0.0.1:1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, ErrInvalidCredentials) && err.Error() != "invalid role or secret ID" {
				t.Fatalf("message %q", err.Error())
			}
		})
	}
}

// TestLoginWithoutSecretID covers a role bound only by addresses.
func TestLoginWithoutSecretID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "host", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "10.0.0.0/8"})
	if _, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role_id": roleID}, "10.0.0.1:5"); err != nil {
		t.Fatalf("login from inside: %v", err)
	}
	if _, err := h.doFrom(logical.UpdateOperation, "login", map[string]any{"role_id": roleID}, "11.0.0.1:5"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login from outside: %v", err)
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	secretID, _ := h.secretID(t, "web", nil)
	r, err := h.login(roleID, secretID, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	renew := func() error {
		return h.fw.RenewAuth(context.Background(), &logical.Request{Path: "login", Storage: h.storage, Auth: r.Auth})
	}
	if err := renew(); err != nil {
		t.Fatalf("renew: %v", err)
	}
	h.mustDo(t, logical.DeleteOperation, "role/web", nil)
	if err := renew(); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("renew after the role went: %v", err)
	}
}

// TestFailedLoginsThrottled: bad secret IDs for one role ID from one
// address are refused with a 429 once the limiter's burst is spent, while
// another address, and the role ID's good logins from elsewhere, go on.
func TestFailedLoginsThrottled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	good, _ := h.secretID(t, "web", nil)
	for i := range loginlimit.DefaultBurst {
		if _, err := h.login(roleID, "guess", "192.0.2.7:1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := h.login(roleID, good, "192.0.2.7:2")
	var rl *logical.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Fatalf("after the burst: %v", err)
	}
	if _, err := h.login(roleID, good, "198.51.100.1:1"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	h.clock.advance(loginlimit.DefaultRefill)
	if _, err := h.login(roleID, good, "192.0.2.7:3"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	// Made-up role IDs count together: spraying them is no way around.
	for i := range loginlimit.DefaultBurst {
		if _, err := h.login(fmt.Sprintf("made-up-%d", i), "x", "203.0.113.9:1"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("unknown role ID %d: %v", i, err)
		}
	}
	if _, err := h.login("made-up-new", "x", "203.0.113.9:1"); !errors.As(err, &rl) {
		t.Fatalf("one more made-up role ID: %v", err)
	}
}
