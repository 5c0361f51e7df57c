package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain sets the variable the env template function is tested with,
// and stops the shared kube-apiserver and any throwaway database server
// the tests started.
func TestMain(m *testing.M) {
	os.Setenv("AGENT_TEST_VAR", "here")
	os.Exit(dbtest.Main(runFunc(func() int { return kubetest.Main(m) })))
}

// runFunc adapts a function to what dbtest.Main runs.
type runFunc func() int

func (f runFunc) Run() int { return f() }

// server is a real Coffer (core + HTTP API) on a loopback listener, as
// test/e2e runs it, initialised, unsealed, with KV v2 at secret/.
type server struct {
	url  string
	root *api.Client
}

func startServer(t testing.TB) *server { return startServerOn(t, nil) }

// startServerOn is startServer on the given listener (nil: a new one).
func startServerOn(t testing.TB, ln net.Listener) *server {
	t.Helper()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "agent",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewUnstartedServer(httpapi.New(co, httpapi.Options{}))
	if ln != nil {
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	c := newTestClient(t, ts.URL, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	return &server{url: ts.URL, root: c}
}

func newTestClient(t testing.TB, url, token string) *api.Client {
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

// tokenWithPolicy writes policy name with rules and returns a token
// carrying it (TTL ttl) in a file under dir.
func (s *server) tokenFile(t testing.TB, dir, rules, ttl string) string {
	t.Helper()
	if err := s.root.Sys().PutPolicy("app", rules); err != nil {
		t.Fatal(err)
	}
	sec, err := s.root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte(sec.Auth.ClientToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *server) putKV(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := s.root.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatal(err)
	}
}

// parse parses an agent configuration, failing the test on error.
func parse(t testing.TB, src string) *config.Agent {
	t.Helper()
	cfg, err := config.ParseAgent([]byte(src), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// syncBuffer is a bytes.Buffer safe for the agent's concurrent writers.
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

// running is an agent started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
}

// start runs an agent for cfg until the test ends (or stop).
func start(t testing.TB, cfg *config.Agent, opts Options) *running {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), log: logs}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Error("agent did not stop")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return r
}

// runOnce runs an agent to completion (exit_after_auth, errors).
func runOnce(t testing.TB, cfg *config.Agent, opts Options) error {
	t.Helper()
	a, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return a.Run(ctx)
}

// waitFile waits until path exists and ok accepts its content, and
// returns the content. The limit is a deadlock guard, not a measurement.
func waitFile(t testing.TB, path string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && ok(string(b)) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had the expected content; last: %q, %v", path, b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }

func contains(want string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, want) }
}

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
