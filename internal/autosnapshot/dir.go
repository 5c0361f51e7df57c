package autosnapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// confine checks that dir, an absolute path, may hold snapshot files and
// returns it cleaned: after resolving symbolic links it is neither inside
// nor above any of protected (the storage path, the seal key file, the
// configuration file), so a snapshot can neither overwrite nor be mixed
// with them. With create it is made (0700, parents too) when missing. An
// existing directory must be a real directory (not a symbolic link), and
// not writable by other users, who could otherwise swap its files or
// fill it. Errors wrap ErrInvalidConfig and name what to change.
func confine(dir string, protected []string, create bool) (string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !filepath.IsAbs(dir) {
		return "", bad("path_prefix must be an absolute directory path")
	}
	dir = filepath.Clean(dir)
	real, err := resolve(dir)
	if err != nil {
		return "", bad("path_prefix %s cannot be resolved: %v", dir, err)
	}
	for _, p := range protected {
		if p == "" {
			continue
		}
		rp, err := resolve(filepath.Clean(p))
		if err != nil {
			rp = filepath.Clean(p)
		}
		if within(real, rp) || within(rp, real) {
			return "", bad("path_prefix %s overlaps %s, which the server uses (storage path, seal key or configuration): choose a directory outside it", dir, p)
		}
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", bad("path_prefix %s cannot be created: %v", dir, errors.Unwrap(err))
		}
	}
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return dir, nil
	case err != nil:
		return "", bad("path_prefix %s: %v", dir, errors.Unwrap(err))
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", bad("path_prefix %s is a symbolic link; give the directory it points to", dir)
	case !fi.IsDir():
		return "", bad("path_prefix %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return "", bad("path_prefix %s can be written by other users (mode %s); use a directory only the server's user can write (chmod 700)", dir, fi.Mode().Perm())
	}
	return dir, nil
}

// resolve returns path with every symbolic link of its longest existing
// prefix resolved; the missing rest is appended as given.
func resolve(path string) (string, error) {
	var rest []string
	for {
		real, err := filepath.EvalSymlinks(path)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(path)
		if parent == path {
			return "", err
		}
		rest = append([]string{filepath.Base(path)}, rest...)
		path = parent
	}
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	if path == dir || dir == string(filepath.Separator) {
		return true
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}

// budgetWriter fails once more than left bytes are written, so that a
// snapshot stops as soon as it would break local_max_space.
type budgetWriter struct {
	w     io.Writer
	left  int64
	limit int64
}

func (b *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, fmt.Errorf("the snapshot would take the kept files past local_max_space (%d bytes); it was abandoned", b.limit)
	}
	b.left -= int64(len(p))
	return b.w.Write(p)
}
