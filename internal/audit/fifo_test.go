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
