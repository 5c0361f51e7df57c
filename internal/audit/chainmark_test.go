package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestChainCutWhileClosed: lines cut from the end of a chained file while
// the server is down are reported by verify once the device opens again.
// The chain used to go on from whatever line the file then ended with, so
// the cut left no trace. A clean restart and a rotation made while the
// server was down still verify.
func TestChainCutWhileClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	storage := logical.NewInmemStorage()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.log")
	run := func() {
		t.Helper()
		b, err := Open(ctx, BrokerConfig{Storage: storage})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.List()) == 0 {
			if err := b.Enable(ctx, Config{Path: "main", Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			in := &Input{Request: &logical.Request{ID: "1", Operation: logical.ReadOperation, Path: "secret/data/x"}}
			if err := b.LogRequest(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(paths ...string) error {
		t.Helper()
		b, err := Open(ctx, BrokerConfig{Storage: storage})
		if err != nil {
			t.Fatal(err)
		}
		key, err := b.ChainKey(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		var files []ChainFile
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, ChainFile{Name: filepath.Base(p), R: bytes.NewReader(data)})
		}
		_, err = Verify(key, files)
		return err
	}
	run()
	run()
	if err := verify(file); err != nil {
		t.Fatalf("after a clean restart: %v", err)
	}
	// Rotated while down: the new file continues the chain.
	rotated := file + ".1"
	if err := os.Rename(file, rotated); err != nil {
		t.Fatal(err)
	}
	run()
	// verify opens and closes the broker too, adding lines: compare
	// before that.
	if err := verify(rotated, file); err != nil {
		t.Fatalf("rotated while down: %v", err)
	}
	// Cut the last lines while down, then start again.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	kept := len(lines) - 4
	if err := os.WriteFile(file, []byte(strings.Join(lines[:kept], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	run()
	var te *TamperError
	if err := verify(rotated, file); !errors.As(err, &te) || te.File != "audit.log" || te.Line != kept+1 {
		t.Fatalf("lines cut while down: %v (want a break at audit.log:%d)", err, kept+1)
	}
}
