package agent

import (
	"fmt"
	"os"
	"path/filepath"
)

// dirModeFor is the mode of the directories the agent creates for a file
// of mode perm: the owner's in full, and the group or others may enter and
// list them when they may read the file. With a fixed 0750 a file made
// readable by all (the injector's default 0644, for an application that
// runs as another user than the agent) was out of that user's reach in a
// subdirectory (agent-inject-file app/db.env).
func dirModeFor(perm os.FileMode) os.FileMode {
	mode := os.FileMode(0o700)
	if perm&0o040 != 0 {
		mode |= 0o050
	}
	if perm&0o004 != 0 {
		mode |= 0o005
	}
	return mode
}

// makeDirs creates the missing directories of dir with mode, set explicitly
// (not filtered by the umask, as the file's own mode is not); directories
// that exist keep theirs.
func makeDirs(dir string, mode os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := makeDirs(parent, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if os.IsExist(err) {
			return nil // made meanwhile by someone else: theirs
		}
		return err
	}
	return os.Chmod(dir, mode)
}

// writeFileAtomic replaces path with data in one rename: a reader sees the
// old content or the new, never a part. The temporary file is created in
// the same directory (a rename never crosses file systems), with mode perm
// set explicitly (not filtered by the umask), and synced before the
// rename. With mkdirs the missing parent directories are created.
func writeFileAtomic(path string, data []byte, perm os.FileMode, mkdirs bool) (err error) {
	dir := filepath.Dir(path)
	if mkdirs {
		if err := makeDirs(dir, dirModeFor(perm)); err != nil {
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
