package kubernetes_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// server is a whole Coffer (core, HTTP API, the production registry) on a
// loopback listener, initialised, unsealed, with KV v2 at secret/.
type server struct {
	url    string
	client *api.Client // root
}

func startServer(t testing.TB) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "kube",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{url: ts.URL}
	s.client = s.as(t, "")
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, err := s.client.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	s.client.SetToken(init.RootToken)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount secret/: %v", err)
	}
	return s
}

// as is a published OpenBao client for s with token, reading nothing from
// the environment.
func (s *server) as(t testing.TB, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.url
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func (s *server) write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := s.client.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}
