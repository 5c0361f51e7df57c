package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWriteFileAtomic: the file gets exactly the mode asked for, whatever
// the umask; no temporary file is left; missing directories are made only
// when asked.
func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	if err := writeFileAtomic(p, []byte("x"), 0o644, false); err == nil {
		t.Fatal("wrote into a missing directory without mkdirs")
	}
	for _, perm := range []os.FileMode{0o640, 0o604, 0o600} {
		if err := writeFileAtomic(p, []byte(perm.String()), perm, true); err != nil {
			t.Fatal(err)
		}
		if m := mode(t, p); m != perm {
			t.Fatalf("mode %o, want %o", m, perm)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(p))
	if err != nil || len(entries) != 1 {
		t.Fatalf("left behind: %v %v", entries, err)
	}
}

// TestWriteFileAtomicReaders: a reader racing with rewrites sees one
// whole version or the other, never a mix or a truncated file.
func TestWriteFileAtomicReaders(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 256<<10)
	must(t, writeFileAtomic(p, a, 0o600, false))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := writeFileAtomic(p, data, 0o600, false); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 300; i++ {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read %d bytes of a partial or mixed file", len(got))
		}
	}
	wg.Wait()
}

func sleepShort() { time.Sleep(20 * time.Millisecond) }
