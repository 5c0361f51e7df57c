// Package testserver starts a real Coffer server for the tests of other
// packages: a core over in-memory storage, initialised and unsealed as
// `coffer server -dev` does (one unseal key share, KV v2 at secret/),
// behind the real HTTP API on a loopback port, with a root client.
//
// It is for tests only (it takes a testing.TB and fails the test on any
// error). It is not for tests that need their own storage, seal, listener
// options or HTTP middleware beyond a wrapper (test/e2e builds those
// servers itself), nor for the core's own tests.
package testserver

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// Options shape the server Start runs. The zero value is a plain HTTP
// server in a cluster named "test".
type Options struct {
	// ClusterName names the cluster; "test" when empty.
	ClusterName string
	// TLS serves HTTPS with httptest's self-signed certificate, which
	// Server.CAPEM holds and Server.Root trusts.
	TLS bool
	// Wrap, when set, wraps the HTTP API's handler, to count or look at the
	// requests a test makes.
	Wrap func(http.Handler) http.Handler
}

// Server is a running server; Start stops it (closes the listener, then
// seals the core) when the test ends.
type Server struct {
	// Core is the server's core, for sealing and unsealing it directly.
	Core *core.Core
	// URL is the HTTP API's base address, such as http://127.0.0.1:41234.
	URL string
	// Root is a client with the root token that never retries.
	Root *api.Client
	// RootToken is the root token Root carries.
	RootToken string
	// UnsealKey is the single unseal key share: Core.Unseal(ctx,
	// UnsealKey, false) unseals the server again after a seal.
	UnsealKey []byte
	// CAPEM is the PEM of the server's certificate with Options.TLS; nil
	// otherwise.
	CAPEM []byte
}

// Start runs a server for the test t and returns it once it is unsealed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.ClusterName == "" {
		opts.ClusterName = "test"
	}
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: opts.ClusterName,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	share, root, err := co.DevInit(context.Background(), "")
	if err != nil {
		t.Fatalf("testserver: initialise: %v", err)
	}
	var h http.Handler = httpapi.New(co, httpapi.Options{})
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ts := httptest.NewUnstartedServer(h)
	if opts.TLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() { ts.Close(); _ = co.Seal(context.Background()) })
	s := &Server{Core: co, URL: ts.URL, RootToken: root, UnsealKey: share}
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = ts.URL, 0
	if opts.TLS {
		cfg.HttpClient = ts.Client()
		s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	}
	if s.Root, err = api.NewClient(cfg); err != nil {
		t.Fatalf("testserver: client: %v", err)
	}
	s.Root.SetToken(root)
	return s
}
