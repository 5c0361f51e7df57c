package e2e

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// trustLogin is a test-only auth method whose login asks for nothing: it
// returns the policies, token_type and ttl the body names, and, when the
// body names an alias, reports it (with alias_metadata) for the identity
// store as the kubernetes and jwt methods report what they proved. It
// stands for any auth method built on tokenutil, without bcrypt's cost, so
// logins can be compared by token type.
func trustLogin(context.Context, *logical.BackendConfig) (logical.Backend, error) {
	return &framework.Backend{
		Paths: []*framework.Path{{
			Pattern: "login",
			Fields: map[string]*framework.FieldSchema{
				"policies":       {Type: framework.TypeLowerStrings},
				"token_type":     {Type: framework.TypeString},
				"ttl":            {Type: framework.TypeDurationSecond},
				"alias":          {Type: framework.TypeString},
				"alias_metadata": {Type: framework.TypeKVPairs},
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.UpdateOperation: func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
					auth := &logical.Auth{
						Policies: d.Strings("policies"), TokenType: d.String("token_type"), LeaseDuration: d.Duration("ttl"),
						Renewable: true, DisplayName: "bot",
					}
					if name := d.String("alias"); name != "" {
						auth.Alias = &logical.Alias{Name: name, Metadata: d.KVPairs("alias_metadata")}
					}
					return &logical.Response{Auth: auth}, nil
				},
			},
		}},
		Special: &logical.Paths{Unauthenticated: []string{"login"}},
	}, nil
}

// startWithTrust starts, initialises and unseals a server on p whose
// registry also has the "trust" auth method, enabled at auth/trust/.
func startWithTrust(t testing.TB, p physical.Backend) *server {
	t.Helper()
	auths := maps.Clone(registry.AuthMethods())
	auths["trust"] = trustLogin
	co := core.New(core.Config{
		Physical: p, StorageType: "inmem", Version: "test", ClusterName: "e2e",
		Engines: registry.Engines(), AuthMethods: auths,
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	s := &server{core: co, url: ts.URL, client: newClient(t, ts.URL, "")}
	init, err := s.client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.root, s.keys = init.RootToken, init.Keys
	if _, err := s.client.Sys().Unseal(s.keys[0]); err != nil {
		t.Fatal(err)
	}
	s.client.SetToken(s.root)
	if err := s.client.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Sys().EnableAuthWithOptions("trust", &api.EnableAuthOptions{Type: "trust"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// rawStatus sends one request with token and returns the status code and
// the decoded error list, for what the client hides.
func rawStatus(t *testing.T, s *server, method, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+"/v1/"+path, nil)
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline; it measures nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// physicalKeys counts the stored keys under prefix, below the barrier.
func physicalKeys(t *testing.T, p physical.Backend, prefix string) int {
	t.Helper()
	names, err := p.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if name[len(name)-1] == '/' {
			n += physicalKeys(t, p, prefix+name)
			continue
		}
		n++
	}
	return n
}

func startInmem(t testing.TB) (*server, physical.Backend) {
	p := inmem.New()
	return startWithTrust(t, p), p
}
