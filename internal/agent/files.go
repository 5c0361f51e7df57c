package agent

import (
	"fmt"
	"os"
	"path/filepath"
)

// destDirMode is the mode of directories the agent creates for a
// destination: the owner and its group may list them, others may not.
const destDirMode = 0o750

// writeFileAtomic replaces path with data in one rename: a reader sees the
// old content or the new, never a part. The temporary file is created in
// the same directory (a rename never crosses file systems), with mode perm
// set explicitly (not filtered by the umask), and synced before the
// rename. With mkdirs the missing parent directories are created.
func writeFileAtomic(path string, data []byte, perm os.FileMode, mkdirs bool) (err error) {
	dir := filepath.Dir(path)
	if mkdirs {
		if err := os.MkdirAll(dir, destDirMode); err != nil {
			return fmt.Errorf("%w %s: %w", ErrWrite, path, err)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrWrite, path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("%w %s: %w", ErrWrite, path, err)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
