package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultLocalDir is where a pod's service-account token and CA are
// mounted.
const DefaultLocalDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// localRecheck is how often a local file is looked at again for rotation.
const localRecheck = time.Second

// localFile is a file that may be replaced at any time (the kubelet rotates
// projected tokens by swapping a symlink): Read returns its current
// content, looking again at most once per localRecheck and re-reading only
// when its size or modification time changed. Safe for concurrent use.
type localFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time
	modTime time.Time
	size    int64
	data    []byte
	err     error
}

func newLocalFile(dir, name string, now func() time.Time) *localFile {
	return &localFile{path: filepath.Join(dir, name), now: now}
}

// Read returns the file's content with surrounding white space removed, or
// nil when it does not exist or cannot be read. The slice must not be
// changed.
func (f *localFile) Read() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if !f.checked.IsZero() && now.Sub(f.checked) < localRecheck {
		return f.data
	}
	f.checked = now
	st, err := os.Stat(f.path)
	if err != nil {
		f.data, f.err, f.modTime, f.size = nil, err, time.Time{}, 0
		return nil
	}
	if f.data != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.data
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		f.data, f.err = nil, err
		return nil
	}
	f.data, f.err, f.modTime, f.size = bytes.TrimSpace(b), nil, st.ModTime(), st.Size()
	return f.data
}
