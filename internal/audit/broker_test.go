package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestBrokerFailsClosed: a declared device whose directory is missing
// cannot be opened, so every request is refused (ErrAllDevicesFailed)
// until the directory exists and a SIGHUP (Reopen) opens it.
func TestBrokerFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "later")
	file := filepath.Join(dir, "audit.log")
	b, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage(), Declared: []Config{{Path: "main", Type: "file", Options: map[string]string{"file_path": file}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := &Input{Request: &logical.Request{ID: "1", Operation: logical.ReadOperation, Path: "secret/data/x"}}
	if err := b.LogRequest(ctx, in); !errors.Is(err, ErrAllDevicesFailed) {
		t.Fatalf("with the only device broken: %v", err)
	}
	if n := b.Failures()["main/"]; n != 1 {
		t.Fatalf("failures counted: %d", n)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b.Reopen(ctx)
	if err := b.LogRequest(ctx, in); err != nil {
		t.Fatalf("after the reopen: %v", err)
	}
	// A second device may not write into the same file: two chains in
	// one file could not be verified.
	err = b.Enable(ctx, Config{Path: "again", Type: "file", Options: map[string]string{"file_path": file + "/."}})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "already writes to that file") {
		t.Fatalf("same file twice: %v", err)
	}
	if err := b.Disable(ctx, "main"); !errors.Is(err, ErrAPIDisabled) {
		t.Fatalf("disabling a declared device: %v", err)
	}
}
