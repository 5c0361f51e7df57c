package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
)

// harness is one backend over in-memory storage, with an issuer.
type harness struct {
	b       *backend
	fw      *framework.Backend
	storage *logical.InmemStorage
	iss     *jwttest.Issuer
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	s := logical.NewInmemStorage()
	b := newBackend(&logical.BackendConfig{Storage: s,
		System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour}})
	return &harness{b: b, fw: b.framework(), storage: s, iss: jwttest.New(t)}
}

// configured is newHarness with the issuer's discovery URL configured.
func configured(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"oidc_discovery_url": h.iss.URL, "oidc_discovery_ca_pem": h.iss.CAPEM, "bound_issuer": h.iss.URL,
	})
	return h
}

func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	return h.doFrom(op, path, data, "127.0.0.1:40000")
}

func (h *harness) doFrom(op logical.Operation, path string, data map[string]any, remote string) (*logical.Response, error) {
	return h.fw.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: h.storage, RemoteAddr: remote,
	})
}

func (h *harness) mustDo(t testing.TB, op logical.Operation, path string, data map[string]any) *logical.Response {
	t.Helper()
	r, err := h.do(op, path, data)
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return r
}

// login logs in to role with token from 127.0.0.1.
func (h *harness) login(role, token string) (*logical.Response, error) {
	return h.do(logical.UpdateOperation, "login", map[string]any{"role": role, "jwt": token})
}

// wantUserError fails unless err is kind with a message containing want
// and nothing of token.
func wantUserError(t testing.TB, err, kind error, want, token string) {
	t.Helper()
	var ue *logical.UserError
	if !errors.As(err, &ue) || !errors.Is(err, kind) {
		t.Fatalf("err = %v (%T); want a %v user error", err, err, kind)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	for _, part := range append([]string{token}, strings.Split(token, ".")...) {
		if len(part) > 8 && strings.Contains(err.Error(), part) {
			t.Fatalf("message %q quotes the token", err)
		}
	}
}

func jsonNumber(s string) any { return json.Number(s) }

// clock is a settable time source for the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
