// Package e2e drives a whole Coffer server over real HTTP on loopback with
// the published OpenBao Go client, the way existing Vault users' code will.
package e2e

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// server is one running Coffer behind a loopback HTTP listener.
type server struct {
	core   *core.Core
	url    string
	root   string
	keys   []string
	client *api.Client
}

// newClient returns an OpenBao API client for url that reads nothing from
// the environment.
func newClient(t testing.TB, url, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = url
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// startSealed starts a new, uninitialised server on p.
func startSealed(t testing.TB, p physical.Backend) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: p, StorageType: "inmem", Version: "test", ClusterName: "e2e",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	return &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
}

// start starts a server, initialises it with 5 shares and threshold 3,
// unseals it, and mounts KV v2 at secret/, all through the API client.
func start(t testing.TB) *server { return startOn(t, inmem.New()) }

// startOn is start on the physical backend p.
func startOn(t testing.TB, p physical.Backend) *server {
	t.Helper()
	s := startSealed(t, p)
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	s.unseal(t)
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount secret/: %v", err)
	}
	return s
}

func (s *server) unseal(t testing.TB) {
	t.Helper()
	for i, k := range s.keys[:3] {
		st, err := s.client.Sys().Unseal(k)
		if err != nil {
			t.Fatalf("unseal %d: %v", i, err)
		}
		if want := i < 2; st.Sealed != want {
			t.Fatalf("after share %d sealed=%v", i+1, st.Sealed)
		}
	}
}

// as returns a client for the same server with another token.
func (s *server) as(t testing.TB, token string) *api.Client {
	return newClient(t, s.url, token)
}
