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

// TestCreatedDirsFollowTheFile: the directories made for a destination
// let in whoever may read the file (a 0644 file's are 0755, so an
// application running as another user reaches it), whatever the umask,
// and directories that exist keep their mode.
func TestCreatedDirsFollowTheFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for perm, want := range map[os.FileMode]os.FileMode{0o644: 0o755, 0o640: 0o750, 0o604: 0o705, 0o600: 0o700, 0o400: 0o700} {
		p := filepath.Join(dir, perm.String(), "a", "b", "f")
		if err := writeFileAtomic(p, []byte("x"), perm, true); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Dir(p), filepath.Dir(filepath.Dir(p)), filepath.Join(dir, perm.String())} {
			if m := mode(t, d); m != want {
				t.Errorf("file %o: directory %s has mode %o, want %o", perm, d, m, want)
			}
		}
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "g"), []byte("x"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, dir); m != 0o711 {
		t.Errorf("an existing directory's mode became %o", m)
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
