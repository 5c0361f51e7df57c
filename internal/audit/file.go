package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// defaultFsyncInterval is the least time between two fsyncs of a file
// device: lines are acknowledged once written (they survive a crash of the
// process), and reach the disk at most this much later.
const defaultFsyncInterval = 10 * time.Millisecond

// defaultCheckpointInterval is how many lines pass between two checkpoint
// lines of a chained file.
const defaultCheckpointInterval = 1000

var errSinkClosed = errors.New("the audit device is closed")

// newFileSink opens the file device o describes: a file (chained unless
// hash_chain=false), or stdout, or nothing at all ("discard").
func newFileSink(o options, chainKey []byte, hooks sinkHooks) (sink, error) {
	path := o["file_path"]
	if path == "" {
		path = o["path"]
	}
	if strings.ContainsAny(o["prefix"], "\n\r") {
		return nil, fmt.Errorf("%w: option \"prefix\" may not contain a line break", ErrInvalidConfig)
	}
	switch path {
	case "":
		return nil, fmt.Errorf("%w: option \"file_path\" is required: a file's absolute path, or stdout, or discard", ErrInvalidConfig)
	case "discard":
		return discardSink{}, nil
	case "stdout":
		return &writerSink{w: os.Stdout}, nil
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w: option \"file_path\" must be an absolute path, not %q", ErrInvalidConfig, path)
	}
	mode := os.FileMode(0o600)
	if m, ok := o["mode"]; ok && m != "" {
		n, err := strconv.ParseUint(m, 8, 32)
		if err != nil || n > 0o777 {
			return nil, fmt.Errorf("%w: option \"mode\" must be an octal file mode such as 0600, not %q", ErrInvalidConfig, m)
		}
		if n&0o111 != 0 {
			// As in Vault since CVE-2025-6000: an audit log is never a program.
			return nil, fmt.Errorf("%w: option \"mode\" may not make the file executable (%q): use 0600 or 0640", ErrInvalidConfig, m)
		}
		mode = os.FileMode(n)
	}
	chained, err := o.bool("hash_chain", true)
	if err != nil {
		return nil, err
	}
	interval := defaultCheckpointInterval
	if v, ok := o["checkpoint_interval"]; ok && v != "" {
		if interval, err = strconv.Atoi(v); err != nil || interval < 1 {
			return nil, fmt.Errorf("%w: option \"checkpoint_interval\" must be a whole number of lines, at least 1", ErrInvalidConfig)
		}
	}
	syncEvery, err := o.duration("fsync_interval", defaultFsyncInterval)
	if err != nil {
		return nil, err
	}
	s := &fileSink{path: path, mode: mode, interval: uint64(interval), hooks: hooks, syncEvery: syncEvery,
		syncWake: make(chan struct{}, 1), stop: make(chan struct{}), cur: newBatch(nil)}
	if chained {
		s.chain = newChain(chainKey)
	}
	if err := s.open("open"); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.syncer()
	return s, nil
}

// batch is the lines that wait to be written, copied end to end into
// one buffer, and how they fared.
type batch struct {
	buf  []byte
	ends []int
	done chan struct{}
	err  error
}

// newBatch returns an empty batch, reusing the buffers of old (a batch
// written, whose waiters no longer read anything but done and err).
func newBatch(old *batch) *batch {
	b := &batch{done: make(chan struct{})}
	if old != nil && cap(old.buf) <= maxBatchReuse {
		b.buf, b.ends = old.buf[:0], old.ends[:0]
	}
	return b
}

// maxBatchReuse is the largest batch buffer kept for the next batch.
const maxBatchReuse = 1 << 20

// lines calls fn with each line of the batch.
func (b *batch) each(fn func(line []byte)) {
	start := 0
	for _, end := range b.ends {
		fn(b.buf[start:end])
		start = end
	}
}

// fileSink appends lines to a file. Callers copy their line into the
// queued batch under mu (a short append); the one that finds no write in
// progress chains the whole batch (one HMAC per line), writes it with one
// write call and acknowledges it, so that lines of many requests share a
// write under load and an idle device costs no handoff to another
// goroutine. A syncer goroutine fsyncs after batches (at most once per
// fsync_interval), never per line. A line is acknowledged once the kernel
// has it (it survives the process), and is on disk one fsync later.
type fileSink struct {
	path     string
	mode     os.FileMode
	interval uint64
	hooks    sinkHooks
	// syncEvery is the least time between two fsyncs (fsync_interval).
	syncEvery time.Duration

	mu     sync.Mutex // guards cur, spare and closed
	cur    *batch
	spare  *batch
	closed bool

	// fileMu guards f, size, out and the chain state; the caller writing
	// a batch holds it, Reopen and Close for their work.
	fileMu sync.Mutex
	f      *os.File
	size   int64
	out    []byte
	chain  *chain

	// writing is held by the caller writing batches (see lead).
	writing atomic.Bool
	// writes counts write calls, for the benchmark's lines per write.
	writes         atomic.Uint64
	syncWake, stop chan struct{}
	wg             sync.WaitGroup
}

// Write queues a copy of line and waits until it is written.
func (s *fileSink) Write(ctx context.Context, line []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSinkClosed
	}
	b := s.cur
	b.buf = append(b.buf, line...)
	b.ends = append(b.ends, len(b.buf))
	s.mu.Unlock()
	s.lead()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lead writes queued batches until none is left, unless another caller is
// already doing so (which then sees the line queued before it let go).
func (s *fileSink) lead() {
	for s.writing.CompareAndSwap(false, true) {
		s.flush()
		s.writing.Store(false)
		s.mu.Lock()
		empty := len(s.cur.ends) == 0
		s.mu.Unlock()
		if empty {
			return
		}
	}
}

// flush writes the queued batch, if any.
func (s *fileSink) flush() {
	s.mu.Lock()
	b := s.cur
	if len(b.ends) == 0 {
		s.mu.Unlock()
		return
	}
	s.cur = newBatch(s.spare)
	s.spare = nil
	s.mu.Unlock()
	s.fileMu.Lock()
	b.err = s.writeBatch(b, "")
	s.fileMu.Unlock()
	close(b.done)
	if b.err == nil {
		select {
		case s.syncWake <- struct{}{}:
		default:
		}
	}
	s.mu.Lock()
	s.spare = b
	s.mu.Unlock()
}

// writeBatch chains the lines of b (nil: none), and a checkpoint after
// reason, when not empty, or when the interval comes round, and writes
// them at the end of the file. On failure the file is cut back to where
// it was and the chain stays as it was, so the next batch continues a
// valid chain. Called with fileMu held.
func (s *fileSink) writeBatch(b *batch, reason string) error {
	if s.f == nil {
		return fmt.Errorf("audit file %s is not open", s.path)
	}
	buf := s.out[:0]
	var next chainState
	if s.chain == nil {
		if b != nil {
			b.each(func(l []byte) { buf = append(append(buf, l...), '\n') })
		}
	} else {
		buf, next = s.chain.extend(buf, b, reason, s.interval)
	}
	if cap(buf) <= maxBatchReuse {
		s.out = buf[:0]
	}
	n, err := s.f.Write(buf)
	if err != nil {
		if n > 0 {
			_ = s.f.Truncate(s.size)
		}
		return fmt.Errorf("write audit file %s: %w", s.path, err)
	}
	s.size += int64(n)
	s.writes.Add(1)
	if s.chain != nil {
		// The mark moves with each checkpoint, a storage write per
		// checkpoint_interval lines, never per line.
		crossed := s.interval > 0 && next.count/s.interval != s.chain.state.count/s.interval
		s.chain.state = next
		if reason != "" || crossed {
			s.saveMark()
		}
	}
	return nil
}

func (s *fileSink) syncer() {
	defer s.wg.Done()
	for {
		select {
		case <-s.syncWake:
		case <-s.stop:
			return
		}
		s.fileMu.Lock()
		f := s.f
		s.fileMu.Unlock()
		// Outside the lock, so that writes go on during the fsync; a
		// file Reopen closed meanwhile was synced by Reopen.
		if f != nil {
			if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) && s.hooks.failed != nil {
				s.hooks.failed(fmt.Errorf("fsync audit file %s: %w", s.path, err))
			}
		}
		// At most one fsync per interval: every batch written meanwhile
		// shares the next one, however small the batches are.
		if s.syncEvery > 0 {
			select {
			case <-time.After(s.syncEvery):
			case <-s.stop:
				return
			}
		}
	}
}

// open opens the file and, for a chained device, continues the chain the
// file ends with (or starts one), marking the start with a checkpoint.
// Called with fileMu held, or before the goroutines start.
func (s *fileSink) open(reason string) error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|openNonblock, s.mode)
	if err != nil {
		return fmt.Errorf("%w: open audit file: %v", ErrInvalidConfig, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		// A reader that stops reading would block every write with the
		// file's lock held; a pipe is what "stdout" or a socket device is for.
		err = fmt.Errorf("%s is a FIFO or socket, not a file", s.path)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("%w: open audit file: %v", ErrInvalidConfig, err)
	}
	if s.mode != 0 && fi.Mode().IsRegular() && fi.Mode().Perm() != s.mode {
		if err := f.Chmod(s.mode); err != nil {
			f.Close()
			return fmt.Errorf("%w: chmod audit file: %v", ErrInvalidConfig, err)
		}
	}
	s.f, s.size = f, fi.Size()
	if s.chain == nil {
		return nil
	}
	if fi.Mode().IsRegular() && !s.chain.started() {
		st, err := s.startState(fi.Size())
		if err != nil && s.hooks.failed != nil {
			s.hooks.failed(err)
		}
		s.chain.state = st
	}
	return s.writeBatch(nil, reason)
}

// Reopen closes the file and opens the same path again: after a rotation
// (the old file renamed away) the chain goes on in the new file.
// A file that could not be opened last time is tried again.
func (s *fileSink) Reopen() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errSinkClosed
	}
	s.flush()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if old := s.f; old != nil {
		if s.chain != nil {
			_ = s.writeBatch(nil, "reopen")
		}
		_ = old.Sync()
		_ = old.Close()
		s.f = nil
	}
	return s.open("rotated")
}

// Close writes what is queued, marks the end of the chain, syncs and
// closes the file.
func (s *fileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.flush()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.f == nil {
		return nil
	}
	var err error
	if s.chain != nil {
		err = s.writeBatch(nil, "close")
	}
	err = errors.Join(err, s.f.Sync(), s.f.Close())
	s.f = nil
	return err
}

// writerSink writes unchained lines to a stream (stdout).
type writerSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *writerSink) Write(_ context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(append(line, '\n'))
	return err
}

func (s *writerSink) Reopen() error { return nil }
func (s *writerSink) Close() error  { return nil }

// discardSink records nothing, successfully (file_path=discard).
type discardSink struct{}

func (discardSink) Write(context.Context, []byte) error { return nil }
func (discardSink) Reopen() error                       { return nil }
func (discardSink) Close() error                        { return nil }
