package autosnapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// clock is a fake now that moves one second per call.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

func newManager(take Take, active func() bool) *Manager {
	m := New(logical.NewInmemStorage(), take, active, nil, nil)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m.now = c.now
	return m
}

func writeN(n int) Take {
	return func(_ context.Context, w io.Writer) error {
		_, err := w.Write(bytes.Repeat([]byte{'s'}, n))
		return err
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := Config{Name: "x", Interval: time.Second, StorageType: StorageLocal, PathPrefix: dir, LocalMaxSpace: 1 << 20}
	cases := map[string]struct {
		edit func(c *Config)
		want string
	}{
		"short interval":   {func(c *Config) { c.Interval = time.Millisecond }, "interval"},
		"no storage type":  {func(c *Config) { c.StorageType = "" }, "storage_type"},
		"s3":               {func(c *Config) { c.StorageType = "aws-s3" }, "storage_type"},
		"relative path":    {func(c *Config) { c.PathPrefix = "snaps" }, "path_prefix"},
		"no path":          {func(c *Config) { c.PathPrefix = "" }, "path_prefix"},
		"negative retain":  {func(c *Config) { c.Retain = -1 }, "retain"},
		"negative space":   {func(c *Config) { c.LocalMaxSpace = -1 }, "local_max_space"},
		"no space":         {func(c *Config) { c.LocalMaxSpace = 0 }, "local_max_space is required"},
		"prefix with path": {func(c *Config) { c.FilePrefix = "../x" }, "file_prefix"},
		"NUL in prefix":    {func(c *Config) { c.FilePrefix = "a\x00b" }, "control characters"},
		"newline in path":  {func(c *Config) { c.PathPrefix = dir + "/a\nb" }, "control characters"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one about %s", err, tc.want)
			}
		})
	}
	c := good
	if err := c.Validate(); err != nil || c.Retain != 1 || c.FilePrefix != DefaultFilePrefix {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

func TestSnapshotsKeepTheNewestRetain(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	m := newManager(writeN(10), func() bool { return true })
	c := Config{Name: "daily", Interval: time.Second, Retain: 3, StorageType: StorageLocal, PathPrefix: dir, FilePrefix: "t", LocalMaxSpace: 1 << 20}
	if err := m.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	c, _, _ = m.Get(ctx, "daily")
	var urls []string
	for range 5 {
		m.SnapshotNow(ctx, c)
		st, found, err := m.Status(ctx, "daily")
		if err != nil || !found || st.LastSnapshotError != "" || st.ConsecutiveErrors != 0 {
			t.Fatalf("status %+v, %v, %v", st, found, err)
		}
		urls = append(urls, st.LastSnapshotURL)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d files, want 3: %v", len(entries), entries)
	}
	for i, e := range entries {
		if want := filepath.Base(strings.TrimPrefix(urls[2+i], "file://")); e.Name() != want {
			t.Errorf("kept %s, want %s", e.Name(), want)
		}
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 || info.Size() != 10 {
			t.Errorf("%s: mode %v size %d", e.Name(), info.Mode(), info.Size())
		}
	}
	// Another prefix in the same directory is not touched.
	other := filepath.Join(dir, "other-20260101T000000.000000000Z.snap")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.SnapshotNow(ctx, c)
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("a file of another prefix was removed: %v", err)
	}
}

func TestLocalMaxSpaceAndFailuresLeaveNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fail := atomic.Bool{}
	take := func(ctx context.Context, w io.Writer) error {
		if fail.Load() {
			_, _ = w.Write([]byte("partial"))
			return errors.New("storage went away")
		}
		return writeN(100)(ctx, w)
	}
	m := newManager(take, func() bool { return true })
	c := Config{Name: "c", Interval: time.Second, Retain: 5, StorageType: StorageLocal, PathPrefix: dir, LocalMaxSpace: 250}
	if err := m.Put(ctx, c); err != nil {
		t.Fatal(err)
	}
	c, _, _ = m.Get(ctx, "c")
	m.SnapshotNow(ctx, c)
	m.SnapshotNow(ctx, c)
	m.SnapshotNow(ctx, c) // 300 bytes > 250
	st, _, _ := m.Status(ctx, "c")
	if st.ConsecutiveErrors != 1 || !strings.Contains(st.LastSnapshotError, "local_max_space") {
		t.Fatalf("status %+v", st)
	}
	fail.Store(true)
	m.SnapshotNow(ctx, c)
	st, _, _ = m.Status(ctx, "c")
	if st.ConsecutiveErrors != 2 || !strings.Contains(st.LastSnapshotError, "storage went away") {
		t.Fatalf("status %+v", st)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("files %v, want the two good ones only", entries)
	}
}

func TestRunOnlyWhenActive(t *testing.T) {
	dir := t.TempDir()
	var active atomic.Bool
	m := New(logical.NewInmemStorage(), writeN(1), active.Load, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Put(ctx, Config{Name: "c", Interval: time.Second, StorageType: StorageLocal, PathPrefix: dir, Retain: 10, LocalMaxSpace: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	go m.Run(ctx)
	time.Sleep(1500 * time.Millisecond)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a standby took snapshots: %v", entries)
	}
	active.Store(true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the active node took no snapshot")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := m.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := m.Status(ctx, "c"); found {
		t.Fatal("status of a deleted config")
	}
}
