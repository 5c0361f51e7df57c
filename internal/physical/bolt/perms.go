package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// writableByOthers are the mode bits that let group or others write.
const writableByOthers fs.FileMode = 0o022

// checkPermissions refuses a data directory, or an existing database file
// in it, that group or others may write: whoever can write there can
// replace or corrupt the encrypted store (roll it back, or delete it).
// Windows has no such mode bits, so nothing is checked there.
func checkPermissions(dir, file string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if m := fi.Mode().Perm(); m&writableByOthers != 0 {
		return fmt.Errorf("data directory %s has mode %04o: %w; run: chmod 700 %s", dir, m, ErrInsecurePermissions, dir)
	}
	fi, err = os.Stat(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if m := fi.Mode().Perm(); m&writableByOthers != 0 {
		return fmt.Errorf("database file %s has mode %04o: %w; run: chmod 600 %s", file, m, ErrInsecurePermissions, file)
	}
	return nil
}

// checkFileMode refuses an open file of the store, name, that group or
// others may write, as checkPermissions refuses the database file.
func checkFileMode(f logFile, name, what string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m := fi.Mode().Perm(); m&writableByOthers != 0 {
		return fmt.Errorf("%s %s has mode %04o: %w; run: chmod 600 %s", what, name, m, ErrInsecurePermissions, name)
	}
	return nil
}

// mkdirDurable creates dir (mode 0700) and any missing parents, and syncs
// the directory above each one it created, so that a power cut right after
// the first start cannot take the new data directory (and the writes
// acknowledged in it) away. A parent it may not open for reading is
// skipped: failing the start for it would help no one.
func mkdirDurable(dir string) error {
	var created []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		created = append(created, p)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, p := range created {
		if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

// WritableParents returns the directories above dir (made absolute) that
// group or others may write and that lack the sticky bit, from the nearest
// up: whoever can write one of them can move the data directory aside and
// put another in its place. The server warns about them rather than
// refusing, because such layouts are sometimes deliberate. Directories it
// cannot stat are skipped; on Windows it returns nil.
func WritableParents(dir string) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	var out []string
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&writableByOthers != 0 && fi.Mode()&fs.ModeSticky == 0 {
			out = append(out, p)
		}
		if p == filepath.Dir(p) {
			return out
		}
	}
}
