package autosnapshot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// server lays out what a server protects: a storage directory holding
// data, and a seal key file; it returns them and a free directory.
func server(t *testing.T) (storage, key, free string) {
	t.Helper()
	root := t.TempDir()
	storage, free = filepath.Join(root, "data"), filepath.Join(root, "free")
	for _, d := range []string{storage, free, filepath.Join(root, "keys")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key = filepath.Join(root, "keys", "seal.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	return storage, key, free
}

// path_prefix may not be inside or above the storage path or the seal
// key, even through a symbolic link; nor a link, a file, or a directory
// others can write. A good one is created 0700.
func TestPathPrefixConfined(t *testing.T) {
	storage, key, free := server(t)
	link := filepath.Join(free, "link-to-data")
	if err := os.Symlink(storage, link); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(free, "elsewhere")
	_ = os.Mkdir(elsewhere, 0o700)
	dirLink := filepath.Join(free, "link-to-elsewhere")
	if err := os.Symlink(elsewhere, dirLink); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(free, "open")
	_ = os.Mkdir(open, 0o700)
	_ = os.Chmod(open, 0o777)
	file := filepath.Join(free, "file")
	_ = os.WriteFile(file, nil, 0o600)
	cases := map[string]struct{ dir, want string }{
		"the storage path":        {storage, "overlaps"},
		"inside the storage path": {filepath.Join(storage, "snaps"), "overlaps"},
		"above the storage path":  {filepath.Dir(storage), "overlaps"},
		"the root":                {"/", "overlaps"},
		"beside the seal key":     {filepath.Dir(key), "overlaps"},
		"through a link to data":  {filepath.Join(link, "snaps"), "overlaps"},
		"dot-dot into data":       {free + "/../data/snaps", "overlaps"},
		"a symbolic link":         {dirLink, "symbolic link"},
		"world-writable":          {open, "written by other users"},
		"a file":                  {file, "not a directory"},
		"relative":                {"snaps", "absolute"},
	}
	m := New(logical.NewInmemStorage(), writeN(1), func() bool { return true }, []string{storage, key}, nil)
	ctx := context.Background()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := m.Put(ctx, Config{Name: "c", Interval: time.Second, StorageType: StorageLocal, PathPrefix: tc.dir, LocalMaxSpace: 100})
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal about %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(storage, "snaps")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused path_prefix was created in the storage path: %v", err)
	}
	good := filepath.Join(free, "snaps", "daily")
	if err := m.Put(ctx, Config{Name: "c", Interval: time.Second, StorageType: StorageLocal, PathPrefix: good, LocalMaxSpace: 100}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("path_prefix made with %v, %v; want 0700", fi.Mode(), err)
	}
	// Swapped for a link into the storage path after it was accepted: the
	// next snapshot refuses and writes nothing there.
	c, _, _ := m.Get(ctx, "c")
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(storage, good); err != nil {
		t.Fatal(err)
	}
	m.SnapshotNow(ctx, c)
	st, _, _ := m.Status(ctx, "c")
	if st.ConsecutiveErrors != 1 || !strings.Contains(st.LastSnapshotError, "overlaps") {
		t.Fatalf("status after the swap: %+v", st)
	}
	if entries, _ := os.ReadDir(storage); len(entries) != 0 {
		t.Fatalf("a snapshot was written into the storage path: %v", entries)
	}
}

// A snapshot larger than local_max_space stops as soon as it passes the
// bound: the writer never takes more, and nothing is left.
func TestLocalMaxSpaceStopsTheWrite(t *testing.T) {
	dir := t.TempDir()
	var offered int
	take := func(_ context.Context, w io.Writer) error {
		for range 100 {
			n, err := w.Write(make([]byte, 10))
			offered += n
			if err != nil {
				return err
			}
		}
		return nil
	}
	m := newManager(take, func() bool { return true })
	ctx := context.Background()
	if err := m.Put(ctx, Config{Name: "c", Interval: time.Second, StorageType: StorageLocal, PathPrefix: dir, LocalMaxSpace: 95}); err != nil {
		t.Fatal(err)
	}
	c, _, _ := m.Get(ctx, "c")
	m.SnapshotNow(ctx, c)
	st, _, _ := m.Status(ctx, "c")
	if st.ConsecutiveErrors != 1 || !strings.Contains(st.LastSnapshotError, "local_max_space") {
		t.Fatalf("status %+v", st)
	}
	if offered > 95 {
		t.Fatalf("%d bytes were written past local_max_space 95", offered)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left: %v", entries)
	}
}
