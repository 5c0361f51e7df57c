package cli

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentRendered: `coffer agent -rendered`, the injected native
// sidecar's startup probe, runs no agent and contacts no server: it exits
// 1 naming the first destination not written yet, and 0 once every one
// is there, with the configuration from a file or from the environment.
func TestAgentRendered(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")
	src := fmt.Sprintf(`
coffer { address = "https://127.0.0.1:1" }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "x"
}
template {
  destination = %q
  contents = "y"
}
`, filepath.Join(dir, "token"), a, b)
	file := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"AGENT_CFG": base64.StdEncoding.EncodeToString([]byte(src))}
	probes := [][]string{{"agent", "-config=" + file, "-rendered"}, {"agent", "-config-env=AGENT_CFG", "-rendered"}}
	check := func(wantCode int, wantErr string) {
		t.Helper()
		for _, args := range probes {
			_, stderr, code := runCLI(t, vars, "", args...)
			if code != wantCode || !strings.Contains(stderr, wantErr) {
				t.Errorf("%v: code %d, stderr %q; want %d and %q", args, code, stderr, wantCode, wantErr)
			}
		}
	}
	check(exitUsage, a+": not rendered yet")
	if err := os.WriteFile(a, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	check(exitUsage, b+": not rendered yet")
	if err := os.MkdirAll(filepath.Dir(b), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	check(0, "")
}
