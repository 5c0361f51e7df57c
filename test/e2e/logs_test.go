package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoSecrets runs a server logging at debug level through a
// whole life cycle, mistakes included, and checks that no token, key share
// or secret value reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	co := core.New(core.Config{
		Physical: inmem.New(), Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}))
	defer ts.Close()
	c := newClient(t, ts.URL, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Sys().Unseal("00" + init.Keys[0][2:]) // a wrong share first
	_, _ = c.Sys().UnsealWithOptions(&api.UnsealOpts{Reset: true})
	for _, k := range init.Keys[:2] {
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	const value = "log-canary-value-91c2"
	ctx := context.Background()
	if _, err := c.KVv2("secret").Put(ctx, "app", map[string]any{"password": value}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.KVv2("secret").Put(ctx, "app", map[string]any{"password": value}, api.WithCheckAndSet(99))
	tok, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, NumUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	limited := newClient(t, ts.URL, tok.Auth.ClientToken)
	_, _ = limited.Auth().Token().LookupSelf()
	_, _ = limited.KVv2("secret").Get(ctx, "app")
	_, _ = newClient(t, ts.URL, "s.not-a-real-token").KVv2("secret").Get(ctx, "app")
	if err := co.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "unsealed") {
		t.Fatalf("the log is not being captured: %q", out)
	}
	secrets := map[string]string{"secret value": value, "root token": init.RootToken, "child token": tok.Auth.ClientToken, "bad token": "s.not-a-real-token"}
	for i, k := range init.Keys {
		secrets["key share "+string(rune('1'+i))] = k
		secrets["key share b64 "+string(rune('1'+i))] = init.KeysB64[i]
	}
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the log", name)
		}
	}
}
