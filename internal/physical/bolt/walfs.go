package bolt

import (
	"io"
	"io/fs"
	"os"
)

// logFile is what the write-ahead log needs of its file. In production it
// is the *os.File itself (fdatasync recognises it); the crash tests put a
// simulated disk behind it that loses, tears or garbles what was written
// but not yet synced when the power is cut (powercut_test.go).
type logFile interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes everything written durable (fsync); fdatasync calls it
	// for files that are not an *os.File.
	Sync() error
	Stat() (fs.FileInfo, error)
	Close() error
}

// walFS opens the log and makes a directory entry durable.
type walFS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (logFile, error)
	SyncDir(dir string) error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (logFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

func (osFS) SyncDir(dir string) error { return syncDir(dir) }
