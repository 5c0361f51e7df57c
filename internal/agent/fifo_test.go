//go:build unix

package agent

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/config"
)

// TestRendererSkipsFIFODestination: a FIFO at a destination neither
// blocks the agent's start (it reads only regular files it may replace)
// nor counts as rendered.
func TestRendererSkipsFIFODestination(t *testing.T) {
	t.Parallel()
	dest := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(dest, 0o600); err != nil {
		t.Skip(err)
	}
	cfg := &config.Agent{Templates: []config.Template{{Destination: dest, Contents: "x"}}}
	done := make(chan error, 1)
	go func() {
		_, err := newRenderer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("newRenderer blocked on a FIFO destination")
	}
	if err := Rendered(cfg); !errors.Is(err, ErrNotRendered) {
		t.Fatalf("Rendered = %v, want ErrNotRendered", err)
	}
}
