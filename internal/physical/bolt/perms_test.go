package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// A data directory or database file that group or others can write is
// refused, with the chmod that fixes it; reading by them is not refused.
func TestOpenRefusesWritableByOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits")
	}
	t.Parallel()
	cases := map[string]struct {
		dirMode, fileMode os.FileMode // fileMode 0: no database file yet
		fix               string      // the chmod the error must name; "" when Open succeeds
	}{
		"private":                  {dirMode: 0o700},
		"readable by others":       {dirMode: 0o755},
		"group writable":           {dirMode: 0o770, fix: "chmod 700 "},
		"world writable":           {dirMode: 0o777, fix: "chmod 700 "},
		"others write only":        {dirMode: 0o702, fix: "chmod 700 "},
		"existing private file":    {dirMode: 0o700, fileMode: 0o600},
		"group writable file":      {dirMode: 0o700, fileMode: 0o660, fix: "chmod 600 "},
		"world writable file":      {dirMode: 0o700, fileMode: 0o666, fix: "chmod 600 "},
		"world readable file ok":   {dirMode: 0o700, fileMode: 0o644},
		"sticky world dir refused": {dirMode: os.ModeSticky | 0o777, fix: "chmod 700 "},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			if tc.fileMode != 0 {
				b := open(t, dir)
				_ = b.Close()
				if err := os.Chmod(filepath.Join(dir, bolt.FileName), tc.fileMode); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			b, err := bolt.Open(dir)
			if tc.fix == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				_ = b.Close()
				return
			}
			if b != nil {
				_ = b.Close()
			}
			if !errors.Is(err, bolt.ErrInsecurePermissions) || !strings.Contains(err.Error(), tc.fix) {
				t.Fatalf("got %v, want ErrInsecurePermissions naming %q", err, tc.fix)
			}
		})
	}
}

func TestWritableParents(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix mode bits")
	}
	t.Parallel()
	root := t.TempDir()
	open := filepath.Join(root, "open")
	sticky := filepath.Join(open, "sticky")
	private := filepath.Join(sticky, "private")
	if err := os.MkdirAll(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	got := bolt.WritableParents(filepath.Join(private, "data"))
	if !slices.Contains(got, open) {
		t.Fatalf("%v does not name %s", got, open)
	}
	if slices.Contains(got, sticky) || slices.Contains(got, private) {
		t.Fatalf("%v names a sticky or private directory", got)
	}
}
