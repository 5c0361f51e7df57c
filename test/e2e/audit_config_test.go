package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"

	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// startWithAudit starts a server on p with the given declared devices.
func startWithAudit(t *testing.T, p physical.Backend, declared []audit.Config, apiDisabled bool) (*core.Core, *api.Client) {
	t.Helper()
	co := core.New(core.Config{
		Physical: p, StorageType: "inmem", Version: "test", Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
		AuditDevices: declared, AuditAPIDisabled: apiDisabled,
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	return co, newClient(t, ts.URL, "")
}

// TestAuditDeclared: devices from the server configuration are enabled at
// unseal, survive a restart, cannot be disabled through the API, and go
// when their block does; a configuration can forbid API enablement.
func TestAuditDeclared(t *testing.T) {
	t.Parallel()
	p := inmem.New()
	file := filepath.Join(t.TempDir(), "declared.log")
	declared := []audit.Config{{Path: "main", Type: "file", Description: "from the config", Options: map[string]string{"file_path": file}}}
	_, c := startWithAudit(t, p, declared, true)
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	c.SetToken(init.RootToken)
	list, err := c.Sys().ListAudit()
	if err != nil || list["main/"] == nil || list["main/"].Description != "from the config" {
		t.Fatalf("list: %+v %v", list, err)
	}
	err = c.Sys().EnableAuditWithOptions("other", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file + ".2"}})
	if err == nil || !strings.Contains(err.Error(), "disable_api_audit_creation") {
		t.Fatalf("API enable on a server that forbids it: %v", err)
	}
	if err := c.Sys().DisableAudit("main"); err == nil || !strings.Contains(err.Error(), "declared in the server configuration") {
		t.Fatalf("disabling a declared device: %v", err)
	}
	hash, err := c.Sys().AuditHash("main", init.RootToken)
	if err != nil {
		t.Fatal(err)
	}

	// A restart with the same configuration keeps the device and its
	// salt; one without the block drops it.
	for _, tc := range []struct {
		declared []audit.Config
		want     int
	}{{declared, 1}, {nil, 0}} {
		_, c2 := startWithAudit(t, p, tc.declared, false)
		if _, err := c2.Sys().Unseal(init.Keys[0]); err != nil {
			t.Fatal(err)
		}
		c2.SetToken(init.RootToken)
		list, err := c2.Sys().ListAudit()
		if err != nil || len(list) != tc.want {
			t.Fatalf("after restart: %+v %v", list, err)
		}
		if tc.want == 1 {
			if h, err := c2.Sys().AuditHash("main", init.RootToken); err != nil || h != hash {
				t.Fatalf("the salt changed across a restart: %s %v", h, err)
			}
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(raw), hash) || strings.Contains(string(raw), init.RootToken) {
		t.Fatalf("declared device log: %v", err)
	}
}
