package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
	"github.com/cofferhq/coffer/internal/logical"
)

// harness is one backend over in-memory storage with an OIDC issuer that
// stands in for a cluster's discovery document and JWKS in unit tests (the
// real API server is in the kube tests).
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
		System: logical.StaticSystemView{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour}}, t.TempDir())
	return &harness{b: b, fw: b.framework(), storage: s, iss: jwttest.New(t)}
}

// offline is newHarness configured for offline mode against the issuer,
// with role "app" binding namespace "team-a", account "app".
func offline(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.mustDo(t, logical.UpdateOperation, "config", map[string]any{
		"kubernetes_host": h.iss.URL, "oidc_discovery_url": h.iss.URL, "oidc_discovery_ca_pem": h.iss.CAPEM,
	})
	h.mustDo(t, logical.UpdateOperation, "role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": "team-a",
		"audience": "coffer", "token_policies": "reader",
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

func (h *harness) login(role, token string) (*logical.Response, error) {
	return h.do(logical.UpdateOperation, "login", map[string]any{"role": role, "jwt": token})
}

// saClaims are the claims of a bound service-account token of ns/name.
func (h *harness) saClaims(ns, name string, aud ...string) map[string]any {
	c := h.iss.Claims(saUserPrefix+ns+":"+name, aud...)
	c["kubernetes.io"] = map[string]any{
		"namespace":      ns,
		"serviceaccount": map[string]any{"name": name, "uid": "uid-" + ns + "-" + name},
		"pod":            map[string]any{"name": "web", "uid": "pod-uid"},
	}
	return c
}

// wantUserError fails unless err is of kind with a message containing want
// and no part of token.
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
