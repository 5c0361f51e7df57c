package examples

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/injector"
	"github.com/cofferhq/coffer/test/kubetest"
)

// enableDatabase does the README's database steps against db: the engine
// at database/, a config, and role "app" (the examples' database/creds/app).
func enableDatabase(t *testing.T, root *api.Client, db *dbtest.Server) {
	t.Helper()
	if err := root.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	user, pw := db.NewRoot(t)
	for path, data := range map[string]map[string]any{
		"database/config/pg": {
			"plugin_name": "postgresql-database-plugin", "connection_url": db.TemplateURL(),
			"username": user, "password": pw, "allowed_roles": []string{"app"},
		},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	if _, err := root.Logical().Write("database/roles/app", map[string]any{
		"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`},
	}); err != nil {
		t.Fatalf("write database/roles/app: %v", err)
	}
}

// startInjector serves the injector (agents pointed at addr) on a
// loopback port with a fresh CA's certificate (kubetest.ServeWebhook); it
// returns its URL and the CA's PEM.
func startInjector(t *testing.T, addr string) (string, []byte) {
	t.Helper()
	inj, err := injector.New(injector.Config{AgentImage: "registry.example/coffer:test", Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	hostPort, caPEM := kubetest.ServeWebhook(t, func(ctx context.Context, l net.Listener, certFile, keyFile string) error {
		return injector.Serve(ctx, l, injector.NewHandler(inj, nil), certFile, keyFile, nil)
	})
	return "https://" + hostPort + injector.MutatePath, caPEM
}

// runAgent runs `coffer agent` with cfg until it exits (exit_after_auth).
func runAgent(t *testing.T, cfg *config.Agent) {
	t.Helper()
	a, err := agent.New(cfg, agent.Options{ExitOnErr: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatalf("agent: %v", err)
	}
}
