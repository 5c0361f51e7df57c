// Package autosnapshot takes integrated-storage snapshots on a schedule
// (sys/storage/raft/snapshot-auto, which Vault keeps for its paid edition):
// each named configuration says how often, into which local directory,
// under which file prefix and how many files to keep.
//
// The configurations live in the barrier (a storage view the caller
// gives), so they travel with the data and with snapshots. Snapshots are
// taken only while the caller's IsActive says this node is the active one,
// and written atomically: a temporary file in the target directory, fsync,
// rename, fsync of the directory, mode 0600. It is not a snapshot format
// (physical/raft writes the archives) nor a remote uploader: storage_type
// "local" is the only one.
package autosnapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/cofferhq/coffer/internal/logical"
)

// ErrInvalidConfig is wrapped by every refusal of a configuration.
var ErrInvalidConfig = errors.New("invalid automated snapshot configuration")

const (
	// StorageLocal is the only storage_type: files in a local directory.
	StorageLocal = "local"
	// DefaultFilePrefix names the files when file_prefix is empty.
	DefaultFilePrefix = "coffer-snapshot"
	// MinInterval is the shortest interval accepted.
	MinInterval = time.Second
	fileSuffix  = ".snap"
	timeLayout  = "20060102T150405.000000000Z"
	configKey   = "config/"
	tick        = 200 * time.Millisecond
)

// Config is one automated snapshot configuration.
type Config struct {
	Name          string        `json:"-"`
	Interval      time.Duration `json:"interval"`
	Retain        int           `json:"retain"`
	PathPrefix    string        `json:"path_prefix"`
	FilePrefix    string        `json:"file_prefix"`
	StorageType   string        `json:"storage_type"`
	LocalMaxSpace int64         `json:"local_max_space"`
}

// Validate fills the defaults (retain 1, the default file prefix) and
// checks c; errors wrap ErrInvalidConfig and say what to change.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Interval < MinInterval:
		return bad("interval must be at least %s", MinInterval)
	case c.Retain < 0:
		return bad("retain must not be negative")
	case c.StorageType != StorageLocal:
		return bad("storage_type must be %q (the only one supported), got %q", StorageLocal, c.StorageType)
	case c.PathPrefix == "" || !filepath.IsAbs(c.PathPrefix):
		return bad("path_prefix must be an absolute directory path")
	case c.LocalMaxSpace <= 0:
		return bad("local_max_space is required: the most bytes the kept snapshot files may take (as Vault requires for local storage)")
	}
	if c.Retain == 0 {
		c.Retain = 1
	}
	if c.FilePrefix == "" {
		c.FilePrefix = DefaultFilePrefix
	}
	if strings.ContainsAny(c.FilePrefix, `/\`) || c.FilePrefix == "." || c.FilePrefix == ".." {
		return bad("file_prefix must be a file name, not a path")
	}
	if strings.ContainsFunc(c.FilePrefix+c.PathPrefix, unicode.IsControl) {
		return bad("file_prefix and path_prefix must not contain control characters")
	}
	return nil
}

// Status is what sys/storage/raft/snapshot-auto/status reports.
type Status struct {
	ConsecutiveErrors int       `json:"consecutive_errors"`
	LastSnapshotStart time.Time `json:"last_snapshot_start"`
	LastSnapshotEnd   time.Time `json:"last_snapshot_end"`
	LastSnapshotError string    `json:"last_snapshot_error"`
	LastSnapshotURL   string    `json:"last_snapshot_url"`
	NextSnapshotStart time.Time `json:"next_snapshot_start"`
}

// Take writes one snapshot archive to w.
type Take func(ctx context.Context, w io.Writer) error

// Manager serves the configurations and runs them. It is safe for
// concurrent use.
type Manager struct {
	storage   logical.Storage
	protected []string
	take      Take
	isActive  func() bool
	logger    *slog.Logger
	now       func() time.Time

	mu     sync.Mutex
	status map[string]*Status
}

// New returns a Manager keeping configurations in storage, taking snapshots
// with take whenever isActive reports true. No path_prefix may be inside or
// above any of protected (the storage path, the seal key file, the
// configuration file: see confine).
func New(storage logical.Storage, take Take, isActive func() bool, protected []string, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{storage: storage, protected: protected, take: take, isActive: isActive, logger: logger, now: time.Now, status: map[string]*Status{}}
}

// Put validates and stores c, replacing any configuration of that name;
// the next snapshot is due one interval from now. Its directory is created
// (0700) and confined here, so a bad one is refused at once.
func (m *Manager) Put(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	dir, err := confine(c.PathPrefix, m.protected, true)
	if err != nil {
		return err
	}
	c.PathPrefix = dir
	if err := logical.PutJSON(ctx, m.storage, configKey+c.Name, c); err != nil {
		return fmt.Errorf("store automated snapshot config: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.statusLocked(c.Name)
	st.NextSnapshotStart = m.now().Add(c.Interval)
	return nil
}

// Get returns the configuration called name, or found=false.
func (m *Manager) Get(ctx context.Context, name string) (Config, bool, error) {
	var c Config
	found, err := logical.GetJSON(ctx, m.storage, configKey+name, &c)
	c.Name = name
	return c, found, err
}

// List returns the configuration names in order, empty when none.
func (m *Manager) List(ctx context.Context) ([]string, error) {
	names, err := m.storage.List(ctx, configKey)
	slices.Sort(names)
	return names, err
}

// Delete removes the configuration called name; its files stay.
func (m *Manager) Delete(ctx context.Context, name string) error {
	if err := m.storage.Delete(ctx, configKey+name); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.status, name)
	m.mu.Unlock()
	return nil
}

// Status reports the configuration called name, or found=false when there
// is no such configuration.
func (m *Manager) Status(ctx context.Context, name string) (Status, bool, error) {
	c, found, err := m.Get(ctx, name)
	if err != nil || !found {
		return Status{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.statusLocked(name)
	if st.NextSnapshotStart.IsZero() {
		st.NextSnapshotStart = m.now().Add(c.Interval)
	}
	return *st, true, nil
}

func (m *Manager) statusLocked(name string) *Status {
	st := m.status[name]
	if st == nil {
		st = &Status{}
		m.status[name] = st
	}
	return st
}

// Run takes the snapshots that are due until ctx ends. A configuration
// first seen by this process is due one interval after that.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.isActive() {
			continue
		}
		m.runDue(ctx)
	}
}

func (m *Manager) runDue(ctx context.Context) {
	names, err := m.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Warn("list automated snapshot configs", "error", err.Error())
		}
		return
	}
	for _, name := range names {
		c, found, err := m.Get(ctx, name)
		if err != nil || !found {
			continue
		}
		m.mu.Lock()
		st := m.statusLocked(name)
		now := m.now()
		if st.NextSnapshotStart.IsZero() {
			st.NextSnapshotStart = now.Add(c.Interval)
		}
		due := !now.Before(st.NextSnapshotStart)
		m.mu.Unlock()
		if due {
			m.SnapshotNow(ctx, c)
		}
	}
}

// SnapshotNow takes one snapshot for c and records the outcome in its
// status; the next one is due one interval after this one started.
func (m *Manager) SnapshotNow(ctx context.Context, c Config) {
	start := m.now()
	file, err := m.snapshot(ctx, c, start)
	end := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.statusLocked(c.Name)
	st.LastSnapshotStart, st.LastSnapshotEnd, st.NextSnapshotStart = start, end, start.Add(c.Interval)
	if err != nil {
		st.ConsecutiveErrors++
		st.LastSnapshotError = err.Error()
		m.logger.Error("automated snapshot failed", "config", c.Name, "error", err.Error())
		return
	}
	st.ConsecutiveErrors, st.LastSnapshotError, st.LastSnapshotURL = 0, "", "file://"+file
	m.logger.Info("automated snapshot taken", "config", c.Name, "file", file, "duration", end.Sub(start).String())
}

// snapshot writes the file and applies retain and local_max_space. The
// directory is confined again (it may have been replaced by a link since
// the configuration was written), and the write stops once the files kept
// with it would pass local_max_space.
func (m *Manager) snapshot(ctx context.Context, c Config, at time.Time) (string, error) {
	if _, err := confine(c.PathPrefix, m.protected, true); err != nil {
		return "", err
	}
	take := m.take
	if c.LocalMaxSpace > 0 {
		old, err := snapshotFiles(c)
		if err != nil {
			return "", err
		}
		left := c.LocalMaxSpace
		for _, f := range old[max(len(old)-(c.Retain-1), 0):] {
			left -= f.size
		}
		take = func(ctx context.Context, w io.Writer) error {
			return m.take(ctx, &budgetWriter{w: w, left: left, limit: c.LocalMaxSpace})
		}
	}
	final := filepath.Join(c.PathPrefix, c.FilePrefix+"-"+at.UTC().Format(timeLayout)+fileSuffix)
	if err := writeAtomic(ctx, final, take); err != nil {
		return "", err
	}
	files, err := snapshotFiles(c)
	if err != nil {
		return final, err
	}
	keep := files[max(len(files)-c.Retain, 0):]
	if c.LocalMaxSpace > 0 {
		var total int64
		for _, f := range keep {
			total += f.size
		}
		if total > c.LocalMaxSpace {
			_ = os.Remove(final)
			return "", fmt.Errorf("the newest %d snapshots would take %d bytes, over local_max_space (%d); the new one was removed", len(keep), total, c.LocalMaxSpace)
		}
	}
	for _, f := range files[:len(files)-len(keep)] {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return final, fmt.Errorf("remove old snapshot: %w", err)
		}
	}
	return final, nil
}

type snapFile struct {
	path string
	size int64
}

// snapshotFiles lists c's snapshot files, oldest first (the names sort by
// time).
func snapshotFiles(c Config) ([]snapFile, error) {
	entries, err := os.ReadDir(c.PathPrefix)
	if err != nil {
		return nil, err
	}
	var out []snapFile
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, c.FilePrefix+"-") && strings.HasSuffix(n, fileSuffix) &&
			len(n) == len(c.FilePrefix)+1+len(timeLayout)+len(fileSuffix) {
			info, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, snapFile{path: filepath.Join(c.PathPrefix, n), size: info.Size()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// writeAtomic writes path through a temporary file in the same directory:
// 0600, fsync, rename, fsync of the directory. On error nothing is left.
func writeAtomic(ctx context.Context, path string, take Take) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if err := take(ctx, f); err != nil {
		return fmt.Errorf("take snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync snapshot file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close snapshot file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename snapshot file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
