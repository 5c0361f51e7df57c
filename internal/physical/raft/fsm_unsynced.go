package raft

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer/internal/physical/bolt"
)

// The state machine commits without fsync. The raft log is the durable
// record: a write is acknowledged once its entry is fsynced in a quorum's
// logs, and entries after the state machine's applied index are applied
// again from the log at start. What an fsync of the state machine would add
// is protection of the file itself against a machine crash (power loss, a
// kernel panic): bbolt's pages and meta page, written without fsync, may
// reach the disk in any order, so the file may then be torn.
//
// A process crash (kill -9, a panic) loses nothing written: the kernel
// holds the pages and writes them back. Only a restart of the machine
// while the file was open can leave it torn. So while the file is open a
// marker beside it holds the kernel's boot ID; a clean close syncs the file
// and removes the marker. At open, a marker from another boot means the
// machine went down with the file open: the file is discarded, and raft
// rebuilds the state machine from its latest snapshot (fsynced by the
// snapshot store) and the log entries after it (fsynced, never compacted
// past a snapshot). Where the boot ID cannot be read, every commit is
// fsynced as before.
const unsyncedMarker = "unsynced-since-boot"

// bootIDFile is the kernel's identifier of the current boot (Linux).
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// bootID returns the current boot's ID, or nil when it cannot be read.
func bootID() []byte {
	b, err := os.ReadFile(bootIDFile)
	if b = bytes.TrimSpace(b); err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// prepareUnsynced runs before the state machine's file is opened in dir.
// It discards a file left open at a machine crash and marks the file as
// written without fsync in this boot. It reports whether commits may skip
// fsync.
func prepareUnsynced(dir string, logf func(msg string, args ...any)) (bool, error) {
	boot := bootID()
	if boot == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create raft state machine directory: %w", err)
	}
	marker := filepath.Join(dir, unsyncedMarker)
	prev, err := os.ReadFile(marker)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("read %s: %w", marker, err)
	case !bytes.Equal(bytes.TrimSpace(prev), boot):
		db := filepath.Join(dir, bolt.FileName)
		if err := os.Remove(db); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("discard the raft state machine left open at a machine restart: %w", err)
		}
		logf("the machine restarted while the raft state machine was open; it is rebuilt from the latest raft snapshot and the log", "file", db)
	}
	if err := writeSynced(marker, append(boot, '\n')); err != nil {
		return false, fmt.Errorf("mark the raft state machine open: %w", err)
	}
	return true, syncDir(dir)
}

// closeUnsynced syncs the closed-over file's data to disk and removes the
// marker: the file is whole whatever happens to the machine next.
func closeUnsynced(dir string, sync func() error) error {
	if err := sync(); err != nil {
		return fmt.Errorf("sync raft state machine: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, unsyncedMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
