package raft

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	hraft "github.com/hashicorp/raft"
)

// spoolPattern names the files PrepareRestore spools to, in the raft
// directory; removeSpools deletes any left by a crash.
const spoolPattern = "restore-*.tmp"

// PreparedRestore is a verified snapshot spooled to a file beside the raft
// data, ready to be applied. Close removes the file; it must be called.
type PreparedRestore struct {
	b    *Backend
	file *os.File
	size int64
	// Meta is the archive's header.
	Meta ArchiveMeta
}

// PrepareRestore reads the archive r, verifies it completely (ReadArchive,
// with check called for every key) and spools its state to disk, so that
// nothing is applied before the whole archive is known to be good and the
// snapshot is never held in memory. Nothing in storage changes.
//
// The spool is a 0600 file in the raft directory (inside the data
// directory, never the system's temporary directory), removed on every
// error. Both the upload and the state it unpacks to are bounded by
// MaxSnapshotSize: past it reading stops with an error wrapping
// ErrSnapshotTooLarge, so a gzip bomb or an endless body cannot fill the
// disk.
func (b *Backend) PrepareRestore(ctx context.Context, r io.Reader, check func(key, value []byte) error) (_ *PreparedRestore, err error) {
	if err := b.open(ctx); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(b.dir, "raft"), spoolPattern)
	if err != nil {
		return nil, fmt.Errorf("spool snapshot: %w", err)
	}
	p := &PreparedRestore{b: b, file: f}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("spool snapshot: %w", err)
	}
	hc := &hashCounter{h: sha256.New()}
	in := &limitReader{r: contextReader{ctx, r}, left: b.maxSnapshot, limit: b.maxSnapshot}
	out := &limitWriter{w: io.MultiWriter(f, hc), left: b.maxSnapshot, limit: b.maxSnapshot}
	meta, err := ReadArchive(in, out, check)
	// A limit hit surfaces as whatever the reader made of the cut: say
	// which it was.
	for _, over := range []error{in.over, out.over} {
		if over != nil {
			return nil, over
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, err
	}
	p.Meta, p.size = meta, hc.n
	return p, nil
}

// limitReader fails once more than limit bytes are read.
type limitReader struct {
	r           io.Reader
	left, limit int64
	over        error
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.over != nil {
		return 0, l.over
	}
	if int64(len(b)) > l.left {
		b = b[:l.left+1]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = fmt.Errorf("%w: the upload passed %d bytes (storage \"raft\" max_snapshot_size)", ErrSnapshotTooLarge, l.limit)
		return 0, l.over
	}
	return n, err
}

// limitWriter fails once more than limit bytes are written.
type limitWriter struct {
	w           io.Writer
	left, limit int64
	over        error
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if l.over != nil {
		return 0, l.over
	}
	if int64(len(b)) > l.left {
		l.over = fmt.Errorf("%w: the snapshot unpacks to more than %d bytes (storage \"raft\" max_snapshot_size)", ErrSnapshotTooLarge, l.limit)
		return 0, l.over
	}
	l.left -= int64(len(b))
	return l.w.Write(b)
}

// removeSpools deletes restore spools a crash left in dir.
func removeSpools(dir string, logger *slog.Logger) {
	left, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			logger.Warn("could not remove a snapshot restore spool left by an earlier run", "file", f, "error", err.Error())
		}
	}
}

// Apply replaces the cluster's state with the snapshot through raft's user
// snapshot restore, so that every node installs it; it must run on the
// leader. Writes not yet committed are aborted. The raft index moves past
// both the current one and the snapshot's, so later entries are applied.
//
// An error wrapping ErrNotLeader alone means nothing here changed. Raft
// installs the snapshot locally first and only then waits for a majority;
// a leader that loses its lease in between (a slow or cut-off majority)
// returns an error wrapping both ErrRestoreUnconfirmed and ErrNotLeader:
// the data here is the snapshot's, the cluster's may not be.
func (p *PreparedRestore) Apply(ctx context.Context) error {
	if err := p.b.open(ctx); err != nil {
		return err
	}
	if _, err := p.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind snapshot: %w", err)
	}
	meta := &hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Index: p.Meta.Index, Term: p.Meta.Term, Size: p.size}
	p.b.fsm.quiet.Store(true) // the caller reloads what depends on the data itself
	defer p.b.fsm.quiet.Store(false)
	// Marked before raft installs anything, so that a crash midway leaves
	// the node armed for a resync (resync.go).
	prev := p.b.watch.armed.Swap(nil) // an earlier unconfirmed restore
	if err := p.b.writeMarker(nil); err != nil {
		p.b.rearm(prev)
		return err
	}
	before := p.b.fsm.restores.Load()
	if err := p.b.r().Restore(meta, p.file, applyTimeout(ctx)); err != nil {
		err = p.b.applyError(err)
		if p.b.fsm.restores.Load() != before {
			if aerr := p.b.armLatest(); aerr != nil {
				p.b.fsm.logger.Error("cannot watch for the cluster's verdict on the unconfirmed restore; if the node stops applying entries, remove its raft and fsm directories and join it again", "error", aerr.Error())
			}
			return fmt.Errorf("%w: %w", ErrRestoreUnconfirmed, err)
		}
		p.b.rearm(prev)
		return err
	}
	p.b.clearMarker(nil)
	return nil
}

// Close removes the spooled file.
func (p *PreparedRestore) Close() error {
	_ = p.file.Close()
	return os.Remove(p.file.Name())
}

// contextReader stops reading once ctx ends (a client gone mid-upload).
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
