package agent

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestRendered: the native sidecar's startup probe fails, naming the
// destination, while one of the templates waits for a secret the server
// does not have yet, and succeeds once the agent has rendered every
// template; a directory where a file should be never counts.
func TestRendered(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	dir := t.TempDir()
	s.putKV(t, "a", map[string]any{"v": "1"})
	tok := s.tokenFile(t, dir, kvPolicy, "1h")
	a, b := filepath.Join(dir, "out", "a"), filepath.Join(dir, "out", "b")
	cfg := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "{{ with secret \"secret/data/a\" }}{{ .Data.data.v }}{{ end }}"
}
template {
  destination = %q
  contents = "{{ with secret \"secret/data/b\" }}{{ .Data.data.v }}{{ end }}"
}
`, s.url, tok, a, b))
	if err := Rendered(cfg); !errors.Is(err, ErrNotRendered) || !strings.Contains(err.Error(), a) {
		t.Fatalf("before the agent ran: %v, want ErrNotRendered naming %s", err, a)
	}
	start(t, cfg, Options{})
	waitFile(t, a, equals("1"))
	if err := Rendered(cfg); !errors.Is(err, ErrNotRendered) || !strings.Contains(err.Error(), b) {
		t.Fatalf("with b's secret missing: %v, want ErrNotRendered naming %s", err, b)
	}
	s.putKV(t, "b", map[string]any{"v": "2"})
	waitFile(t, b, equals("2"))
	if err := Rendered(cfg); err != nil {
		t.Fatalf("after both rendered: %v", err)
	}

	other := parse(t, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = %q } } }
template {
  destination = %q
  contents = "x"
}
`, s.url, tok, filepath.Join(dir, "out")))
	if err := Rendered(other); !errors.Is(err, ErrNotRendered) {
		t.Fatalf("a directory at the destination: %v, want ErrNotRendered", err)
	}
}
