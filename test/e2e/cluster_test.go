package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// startNamed starts a server on p with the given cluster_name ("" for
// none), as a restart of the process would.
func startNamed(t *testing.T, p physical.Backend, name string) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: p, StorageType: "inmem", Version: "test", ClusterName: name,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	return &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
}

func initRequest(shares, threshold int) *api.InitRequest {
	return &api.InitRequest{SecretShares: shares, SecretThreshold: threshold}
}

// unsealOne unseals a server initialised with one share.
func unsealOne(t *testing.T, s *server) {
	t.Helper()
	if st, err := s.client.Sys().Unseal(s.keys[0]); err != nil || st.Sealed {
		t.Fatalf("unseal: %+v %v", st, err)
	}
}

// names returns the cluster name sys/health and sys/seal-status report,
// and whether the raw health body carries the field at all.
func names(t *testing.T, s *server) (health, sealStatus string, inHealthBody bool) {
	t.Helper()
	h, err := s.client.Sys().Health()
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Sys().SealStatus()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.url + "/v1/sys/health?sealedcode=200&uninitcode=200")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	_, in := raw["cluster_name"]
	return h.ClusterName, st.ClusterName, in
}

// Without cluster_name the server generates "coffer-cluster-<8 hex>" at
// init and keeps it across seals and restarts; a configured cluster_name
// is reported instead while it is configured; both endpoints show the
// name only while unsealed, as Vault does.
func TestGeneratedClusterName(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	s := startNamed(t, p, "")
	if h, st, in := names(t, s); h != "" || st != "" || in {
		t.Fatalf("uninitialised server reports a name: %q %q (in body: %v)", h, st, in)
	}
	init, err := s.client.Sys().Init(initRequest(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	s.keys = init.Keys
	s.client.SetToken(init.RootToken)
	if h, st, in := names(t, s); h != "" || st != "" || in {
		t.Fatalf("sealed server reports a name: %q %q (in body: %v)", h, st, in)
	}
	unsealOne(t, s)
	generated, st, _ := names(t, s)
	if !regexp.MustCompile(`^coffer-cluster-[0-9a-f]{8}$`).MatchString(generated) || st != generated {
		t.Fatalf("health %q, seal-status %q; want one coffer-cluster-<8 hex>", generated, st)
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	unsealOne(t, s)
	if h, _, _ := names(t, s); h != generated {
		t.Fatalf("after seal and unseal: %q, want %q", h, generated)
	}

	_ = s.core.Seal(context.Background()) // one process per store, as bolt's lock enforces
	// Restarts on the same store, in order.
	for _, step := range []struct{ name, configured, want string }{
		{"restart keeps the generated name", "", generated},
		{"a configured name wins", "prod", "prod"},
		{"the kept name returns without it", "", generated},
	} {
		r := startNamed(t, p, step.configured)
		r.keys = s.keys
		unsealOne(t, r)
		if h, st, _ := names(t, r); h != step.want || st != step.want {
			t.Fatalf("%s: health %q, seal-status %q, want %q", step.name, h, st, step.want)
		}
		_ = r.core.Seal(context.Background())
	}
}

// A store set up with a configured name keeps that name, and a dev-style
// server (no name) on another store gets a different generated one.
func TestConfiguredNameAtInitIsKept(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	s := startNamed(t, p, "first")
	init, err := s.client.Sys().Init(initRequest(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	s.keys = init.Keys
	unsealOne(t, s)
	_ = s.core.Seal(context.Background())
	r := startNamed(t, p, "")
	r.keys = s.keys
	unsealOne(t, r)
	if h, _, _ := names(t, r); h != "first" {
		t.Fatalf("kept name %q, want first", h)
	}
	other := startNamed(t, inmem.New(), "")
	oinit, err := other.client.Sys().Init(initRequest(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	other.keys = oinit.Keys
	unsealOne(t, other)
	a, _, _ := names(t, other)
	b := startNamed(t, inmem.New(), "")
	binit, err := b.client.Sys().Init(initRequest(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	b.keys = binit.Keys
	unsealOne(t, b)
	if n, _, _ := names(t, b); n == a {
		t.Fatalf("two stores generated the same name %q", n)
	}
}
