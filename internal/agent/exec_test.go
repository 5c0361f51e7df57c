package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestExecRestart: the exec child starts after the first render, is
// stopped with restart_stop_signal and started again when a template's
// output changes, and is stopped when the agent stops.
func TestExecRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"v": "one"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	out, logf := filepath.Join(dir, "conf"), filepath.Join(dir, "child.log")
	// The trap is set before the child says it started, so a signal that
	// follows the "start" line is always caught.
	script := fmt.Sprintf(`trap 'echo stop >> %s; exit 0' USR1
echo "start $(cat %s)" >> %s
while :; do sleep 0.05; done`, logf, out, logf)
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template_config { static_secret_render_interval = "1s" }
template {
  destination = %q
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data.v }}{{ end }}"
}
exec {
  command = ["/bin/sh", "-c", %q]
  restart_stop_signal = "SIGUSR1"
}
`, s.url, tok, out, script))
	run := start(t, cfg, Options{})
	waitFile(t, logf, equals("start one\n"))
	s.putKV(t, "app", map[string]any{"v": "two"})
	waitFile(t, logf, equals("start one\nstop\nstart two\n"))
	run.cancel()
	if err := <-run.done; err != nil {
		t.Fatal(err)
	}
	run.done <- nil // for the cleanup
	if b, _ := os.ReadFile(logf); string(b) != "start one\nstop\nstart two\nstop\n" {
		t.Fatalf("child log %q", b)
	}
}

// TestExecChildExit: a child that exits on its own ends the agent with
// the child's exit code.
func TestExecChildExit(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "app", map[string]any{"v": "x"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data.v }}{{ end }}"
}
exec { command = "test -s %s && exit 3" }
`, s.url, tok, filepath.Join(dir, "out"), filepath.Join(dir, "out")))
	err := runOnce(t, cfg, Options{})
	var ce *ChildExitError
	if !errors.As(err, &ce) || ce.Code != 3 {
		t.Fatalf("got %v, want the child's exit code 3", err)
	}
}
