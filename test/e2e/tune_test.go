package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// echoFactory is a test engine that answers every read with the request
// headers it was given and the options it was built with (read once, as a
// real engine parses them when it is built).
func echoFactory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	opts := maps.Clone(conf.Options)
	return &framework.Backend{Paths: []*framework.Path{{
		Pattern: ".*",
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.ReadOperation: func(_ context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
				h := map[string]any{}
				for k, v := range req.Headers {
					h[k] = v
				}
				return logical.DataResponse(map[string]any{"headers": h, "options": opts}), nil
			},
		},
	}}}, nil
}

// startDev starts an unsealed server whose registry also has the echo
// engine, with the root token set on s.client.
func startDev(t *testing.T) *server {
	t.Helper()
	engines := registry.Engines()
	engines["echo"] = echoFactory
	co := core.New(core.Config{Physical: inmem.New(), StorageType: "inmem", Version: "test", Engines: engines, AuthMethods: registry.AuthMethods()})
	_, root, err := co.DevInit(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	return &server{core: co, url: ts.URL, root: root, client: newClient(t, ts.URL, root)}
}

// TestTuneKeepsWhatItIsNotTold: Vault's clients send every tune field,
// the TTLs as "" when unchanged; "" leaves a TTL alone and "system" resets
// it to the server's default.
func TestTuneKeepsWhatItIsNotTold(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.TuneMount("secret", api.MountConfigInput{DefaultLeaseTTL: "1h", MaxLeaseTTL: "2h"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.TuneMount("secret", api.MountConfigInput{Description: ptr("only the description")}); err != nil {
		t.Fatal(err)
	}
	cfg, err := sys.MountConfig("secret")
	if err != nil || cfg.DefaultLeaseTTL != 3600 || cfg.MaxLeaseTTL != 7200 {
		t.Fatalf("a tune of the description changed the TTLs: %+v %v", cfg, err)
	}
	if got := s.raw(t, "GET", "sys/mounts/secret/tune", nil); got.body["description"] != "only the description" {
		t.Fatalf("tune read: %v", got.body)
	}
	if err := sys.TuneMount("secret", api.MountConfigInput{DefaultLeaseTTL: "system", MaxLeaseTTL: "system"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := sys.MountConfig("secret"); err != nil || cfg.DefaultLeaseTTL != 768*3600 || cfg.MaxLeaseTTL != 768*3600 {
		t.Fatalf("system TTLs: %+v %v", cfg, err)
	}
	if err := sys.TuneMount("secret", api.MountConfigInput{DefaultLeaseTTL: "3h", MaxLeaseTTL: "1h"}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("default above max: %v", err)
	}
	// A maximum below the server's default is allowed, as in Vault, and
	// caps the mount's default.
	if err := sys.TuneMount("secret", api.MountConfigInput{MaxLeaseTTL: "2h"}); err != nil {
		t.Fatalf("max below the server's default: %v", err)
	}
	if cfg, err := sys.MountConfig("secret"); err != nil || cfg.DefaultLeaseTTL != 7200 || cfg.MaxLeaseTTL != 7200 {
		t.Fatalf("capped default: %+v %v", cfg, err)
	}
}

// TestTuneSettingsReadBack: every tunable setting is stored, reported by
// the tune read and the mount list in Vault's shape, and refused when it
// makes no sense.
func TestTuneSettingsReadBack(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	in := api.MountConfigInput{
		ListingVisibility:         "unauth",
		AuditNonHMACRequestKeys:   []string{"username", "role"},
		AuditNonHMACResponseKeys:  []string{"lease_id"},
		PassthroughRequestHeaders: []string{"x-request-id"},
		AllowedResponseHeaders:    []string{"X-Custom"},
	}
	if err := sys.TuneMount("secret", in); err != nil {
		t.Fatal(err)
	}
	cfg, err := sys.MountConfig("secret")
	if err != nil || cfg.ListingVisibility != "unauth" || !slices.Equal(cfg.AuditNonHMACRequestKeys, []string{"username", "role"}) ||
		!slices.Equal(cfg.AuditNonHMACResponseKeys, []string{"lease_id"}) || !slices.Equal(cfg.PassthroughRequestHeaders, []string{"X-Request-Id"}) ||
		!slices.Equal(cfg.AllowedResponseHeaders, []string{"X-Custom"}) {
		t.Fatalf("tune read: %+v %v", cfg, err)
	}
	mounts, err := sys.ListMounts()
	if err != nil || mounts["secret/"].Config.ListingVisibility != "unauth" || len(mounts["secret/"].Config.AuditNonHMACRequestKeys) != 2 {
		t.Fatalf("mount list config: %+v %v", mounts["secret/"], err)
	}
	if err := sys.EnableAuthWithOptions("people", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.TuneMount("auth/people", api.MountConfigInput{AuditNonHMACRequestKeys: []string{"password_hint"}}); err != nil {
		t.Fatal(err)
	}
	if cfg, err := sys.MountConfig("auth/people"); err != nil || !slices.Equal(cfg.AuditNonHMACRequestKeys, []string{"password_hint"}) {
		t.Fatalf("auth tune read: %+v %v", cfg, err)
	}
	refused := map[string]struct {
		path string
		body map[string]any
	}{
		"bad visibility":          {"sys/mounts/secret/tune", map[string]any{"listing_visibility": "everyone"}},
		"token header passed on":  {"sys/mounts/secret/tune", map[string]any{"passthrough_request_headers": []string{"X-Vault-Token"}}},
		"bearer header passed on": {"sys/mounts/secret/tune", map[string]any{"passthrough_request_headers": "authorization"}},
		"TTL of sys/":             {"sys/mounts/sys/tune", map[string]any{"max_lease_ttl": "1h"}},
		"no such mount":           {"sys/mounts/nothing/tune", map[string]any{"max_lease_ttl": "1h"}},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			if got := s.raw(t, "POST", tc.path, tc.body); got.status != http.StatusBadRequest {
				t.Fatalf("%d %v, want 400", got.status, got.body)
			}
		})
	}
	// As in Vault, sys/ takes the audit keys but nothing else.
	if got := s.raw(t, "POST", "sys/mounts/sys/tune", map[string]any{"audit_non_hmac_request_keys": "path"}); got.status != http.StatusNoContent {
		t.Fatalf("audit keys on sys/: %d %v", got.status, got.body)
	}
}

// TestListingVisibility: without a token, sys/internal/ui/mounts lists the
// mounts tuned to listing_visibility "unauth" (type, description, options
// only); with one, also what its policies reach, in full.
func TestListingVisibility(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	for _, m := range []string{"public", "private"} {
		if err := sys.Mount(m, &api.MountInput{Type: "kv-v2", Description: m + " secrets"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.TuneMount("public", api.MountConfigInput{ListingVisibility: "unauth"}); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "").Logical()
	got, err := anon.Read("sys/internal/ui/mounts")
	if err != nil || got == nil {
		t.Fatalf("unauthenticated listing: %+v %v", got, err)
	}
	secret := got.Data["secret"].(map[string]any)
	pub, _ := secret["public/"].(map[string]any)
	if len(secret) != 1 || pub["type"] != "kv" || pub["description"] != "public secrets" || pub["accessor"] != nil {
		t.Fatalf("unauthenticated listing shows %v", secret)
	}
	if err := sys.PutPolicy("private-reader", `path "private/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"private-reader"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.as(t, tok.Auth.ClientToken).Logical().Read("sys/internal/ui/mounts")
	if err != nil {
		t.Fatal(err)
	}
	secret = got.Data["secret"].(map[string]any)
	if secret["public/"] == nil || secret["private/"] == nil || secret["secret/"] != nil || secret["private/"].(map[string]any)["accessor"] == nil {
		t.Fatalf("listing with a token shows %v", secret)
	}
	if _, err := s.as(t, "not-a-token").Logical().Read("sys/internal/ui/mounts"); statusOf(err) != http.StatusForbidden {
		t.Fatalf("listing with an unknown token: %v", err)
	}
}

// TestPassthroughHeaders: a backend sees exactly the request headers its
// mount was tuned to pass through, from the next request on, and never the
// token.
func TestPassthroughHeaders(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.client.Sys().Mount("echo", &api.MountInput{Type: "echo"}); err != nil {
		t.Fatal(err)
	}
	headers := func() map[string]any {
		t.Helper()
		req, err := http.NewRequest("GET", s.url+"/v1/echo/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", s.root)
		req.Header.Set("X-Request-Id", "r-1")
		req.Header.Set("X-Other", "o")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sec, err := api.ParseSecret(resp.Body)
		if err != nil || sec == nil {
			t.Fatalf("echo: %v", err)
		}
		return sec.Data["headers"].(map[string]any)
	}
	if h := headers(); len(h) != 0 {
		t.Fatalf("headers before any tune: %v", h)
	}
	if err := s.client.Sys().TuneMount("echo", api.MountConfigInput{PassthroughRequestHeaders: []string{"x-request-id"}}); err != nil {
		t.Fatal(err)
	}
	h := headers()
	if len(h) != 1 || fmt.Sprint(h["X-Request-Id"]) != "[r-1]" {
		t.Fatalf("headers after the tune: %v", h)
	}
}

// TestTuneOptionsRebuildsTheBackend: a change of options reaches the
// running backend without a restart, while requests keep being served.
func TestTuneOptionsRebuildsTheBackend(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.client.Sys().Mount("echo", &api.MountInput{Type: "echo", Options: map[string]string{"mode": "a"}}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.as(t, s.root)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r, err := c.Logical().Read("echo/x"); err != nil || r == nil {
					errs <- fmt.Errorf("read during a rebuild: %+v %v", r, err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		if err := s.client.Sys().TuneMount("echo", api.MountConfigInput{Options: map[string]string{"mode": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := s.client.Logical().Read("echo/x")
	if err != nil || fmt.Sprint(r.Data["options"]) != "map[mode:19]" {
		t.Fatalf("the backend did not get the new options: %+v %v", r, err)
	}
	if got := s.raw(t, "GET", "sys/mounts/echo/tune", nil); fmt.Sprint(got.body["options"]) != "map[mode:19]" {
		t.Fatalf("tune read options: %v", got.body["options"])
	}
	if err := s.client.Sys().TuneMount("echo", api.MountConfigInput{Options: map[string]string{"version": "2"}}); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("a version for a non-KV engine: %v", err)
	}
}

// TestKVUpgradeInPlace: tuning a KV version 1 mount to version 2 converts
// its data, as Vault does; writes racing the upgrade either land before it
// (and are converted) or get Vault's "upgrading" answer, never lost; going
// back to version 1 is refused.
func TestKVUpgradeInPlace(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.Mount("legacy", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.client.Logical().Write(fmt.Sprintf("legacy/app/s%d", i), map[string]any{"n": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written []string
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.as(t, s.root)
			for n := 0; ; n++ {
				p := fmt.Sprintf("racer/w%d-%d", w, n)
				_, err := c.Logical().Write("legacy/"+p, map[string]any{"v": p})
				if err == nil {
					mu.Lock()
					written = append(written, p)
					mu.Unlock()
					continue
				}
				var re *api.ResponseError
				if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "Upgrading from non-versioned to versioned data") {
					continue // Vault's answer while the data is converted
				}
				return // version 2 has no such route: the upgrade is done
			}
		}()
	}
	if err := sys.TuneMount("legacy", api.MountConfigInput{Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	wg.Wait()
	kv := s.client.KVv2("legacy")
	ctx := context.Background()
	for i := range 20 {
		got, err := kv.Get(ctx, fmt.Sprintf("app/s%d", i))
		if err != nil || got.Data["n"] != fmt.Sprint(i) || got.VersionMetadata.Version != 1 {
			t.Fatalf("secret %d after the upgrade: %+v %v", i, got, err)
		}
	}
	for _, p := range written {
		if got, err := kv.Get(ctx, p); err != nil || got.Data["v"] != p {
			t.Fatalf("a write acknowledged before the upgrade was lost: %s: %v", p, err)
		}
	}
	if m, err := sys.ListMounts(); err != nil || m["legacy/"].Options["version"] != "2" {
		t.Fatalf("mount options: %+v %v", m["legacy/"], err)
	}
	if _, err := kv.Put(ctx, "app/s0", map[string]any{"n": "new"}); err != nil {
		t.Fatal(err)
	}
	if got, err := kv.Get(ctx, "app/s0"); err != nil || got.VersionMetadata.Version != 2 {
		t.Fatalf("a write after the upgrade: %+v %v", got, err)
	}
	for name, opts := range map[string]map[string]string{
		"downgrade":       {"version": "1"},
		"unknown version": {"version": "3"},
	} {
		if err := sys.TuneMount("legacy", api.MountConfigInput{Options: opts}); statusOf(err) != http.StatusBadRequest {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestKVUpgradeRefused: an upgrade that would lose a secret (one named
// like version 2's own records) is a 400, and the mount goes on serving its
// version 1 data, unchanged and writable.
func TestKVUpgradeRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("legacy", &api.MountInput{Type: "kv-v1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"legacy/config", "legacy/app"} {
		if _, err := s.client.Logical().Write(p, map[string]any{"k": p}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.client.Sys().TuneMount("legacy", api.MountConfigInput{Options: map[string]string{"version": "2"}})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(strings.Join(re.Errors, " "), `"config"`) {
		t.Fatalf("upgrade over a secret named config: %v", err)
	}
	for _, p := range []string{"legacy/config", "legacy/app"} {
		if got, err := s.client.Logical().Read(p); err != nil || got == nil || got.Data["k"] != p {
			t.Fatalf("%s after the refused upgrade: %+v %v", p, got, err)
		}
	}
	if _, err := s.client.Logical().Write("legacy/new", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("write after the refused upgrade: %v", err)
	}
	if m, err := s.client.Sys().ListMounts(); err != nil || m["legacy/"].Options["version"] != "1" {
		t.Fatalf("options after the refused upgrade: %+v %v", m["legacy/"], err)
	}
}

// TestEnableTakesTheTuneSettings: the config object of an enable takes the
// same settings as a tune, parsed the same way.
func TestEnableTakesTheTuneSettings(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	err := sys.Mount("configured", &api.MountInput{Type: "kv-v2", Config: api.MountConfigInput{
		DefaultLeaseTTL: "30m", ListingVisibility: "unauth", PassthroughRequestHeaders: []string{"x-a"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sys.MountConfig("configured")
	if err != nil || cfg.DefaultLeaseTTL != 1800 || cfg.ListingVisibility != "unauth" || !slices.Equal(cfg.PassthroughRequestHeaders, []string{"X-A"}) {
		t.Fatalf("config after enable: %+v %v", cfg, err)
	}
	err = sys.Mount("bad", &api.MountInput{Type: "kv", Config: api.MountConfigInput{ListingVisibility: "everyone"}})
	if statusOf(err) != http.StatusBadRequest {
		t.Fatalf("enable with a bad visibility: %v", err)
	}
}

// TestTuneAuthThroughMountsNeedsSudo: sys/mounts/auth/<path>/tune reaches
// an auth method (Vault's clients tune auth methods that way), so it needs
// the sudo that sys/auth/* needs; a policy on sys/mounts/* alone tunes
// secrets engines only.
func TestTuneAuthThroughMountsNeedsSudo(t *testing.T) {
	t.Parallel()
	s := start(t)
	sys := s.client.Sys()
	if err := sys.EnableAuthWithOptions("people", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	if err := sys.PutPolicy("tuner", `path "sys/mounts/*" { capabilities = ["read", "update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"tuner"}})
	if err != nil {
		t.Fatal(err)
	}
	tuner := s.as(t, tok.Auth.ClientToken).Sys()
	if err := tuner.TuneMount("secret", api.MountConfigInput{MaxLeaseTTL: "2h"}); err != nil {
		t.Fatalf("tune of a secrets engine: %v", err)
	}
	if err := tuner.TuneMount("auth/people", api.MountConfigInput{MaxLeaseTTL: "9999h"}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("tune of an auth method without sudo: %v", err)
	}
	if err := sys.TuneMount("auth/people", api.MountConfigInput{MaxLeaseTTL: "2h"}); err != nil {
		t.Fatalf("tune of an auth method with sudo (root): %v", err)
	}
}
