package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// BenchmarkRender measures one render of a template holding a KV v2
// secret against a real in-process server over loopback HTTP:
// "cached" executes the template from the agent's cache (what a re-render
// for another template's change costs), "kv" reads the secret anew
// (a static_secret_render_interval tick with nothing changed), and
// "kv+write" also writes the file atomically (temp file, fsync, rename:
// what a change costs before the command runs). docs/BENCHMARKS.md has
// the figures and the command.
func BenchmarkRender(b *testing.B) {
	s := startServer(b)
	s.putKV(b, "app", map[string]any{"user": "app", "password": "pw", "host": "db.internal"})
	dir := b.TempDir()
	cfg := parse(b, fmt.Sprintf(`
coffer { address = %q }
auto_auth { method "token_file" { config { token_file_path = "/unused" } } }
template {
  destination = %q
  contents = "{{ with secret \"secret/data/app\" }}postgres://{{ .Data.data.user }}:{{ .Data.data.password | urlquery }}@{{ .Data.data.host }}/app{{ end }}"
}
`, s.url, filepath.Join(dir, "url")))
	base, err := newClient(cfg.Server)
	must(b, err)
	client, err := withToken(base, s.root.Token())
	must(b, err)
	r, err := newRenderer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(b, err)
	ctx := context.Background()
	if _, err := r.renderAll(ctx, client); err != nil {
		b.Fatal(err)
	}
	cases := map[string]func(){
		"cached":   func() {},
		"kv":       r.invalidateAll,
		"kv+write": func() { r.invalidateAll(); r.tmpls[0].written = false },
	}
	for _, name := range []string{"cached", "kv", "kv+write"} {
		prep := cases[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				prep()
				if _, err := r.renderAll(ctx, client); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
