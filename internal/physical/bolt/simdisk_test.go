package bolt

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// simFS is a disk that loses power: what the log wrote but did not sync is
// kept apart from what a sync made durable, and a power cut keeps none of
// it, all of it, a prefix of it torn at any byte, or sectors of it in any
// order, old, new or garbage (afterCut). A file whose directory was not
// synced since it was created vanishes. Mutating operations are counted;
// at the cutAt'th the power goes: that operation may or may not reach the
// disk, and it and every one after it fail, so the process acknowledges
// nothing from then on.
//
// Sectors of bytes not written since the last sync are never changed
// (the "powersafe overwrite" property: a device does not garble a sector
// it is not writing; rewriting a page with the same bytes leaves it as it
// was).
type simFS struct {
	mu    sync.Mutex
	rng   *rand.Rand
	files map[string]*simFile
	ops   int // mutating operations since the last cut or kill
	cutAt int // the operation at which the power goes; 0: never
	dead  bool
	// failSync, when set, is returned by every Sync (an EIO or ENOSPC from
	// fdatasync) without making anything durable.
	failSync error
	// cutAtReset, when set, cuts the power at the next write that empties
	// the log (a zero header at offset 0), before it reaches the disk.
	cutAtReset bool
	resets     int // zero headers written at offset 0, the log emptied
}

type simFile struct {
	data    []byte     // what reads see: the page cache
	durable []byte     // what the last sync made durable
	dirty   []simWrite // written since the last sync, in order
	linked  bool       // its directory entry is durable
	perm    fs.FileMode
}

type simWrite struct {
	off int64
	p   []byte
}

var errPowerCut = errors.New("simulated power cut")

func newSimFS(seed uint64) *simFS {
	return &simFS{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), files: map[string]*simFile{}}
}

func (s *simFS) OpenFile(name string, flag int, perm fs.FileMode) (logFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return nil, errPowerCut
	}
	f, ok := s.files[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, fs.ErrNotExist
		}
		f = &simFile{perm: perm}
		s.files[name] = f
	}
	return &simHandle{s: s, f: f, name: name}, nil
}

func (s *simFS) SyncDir(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	do, err := s.step()
	if do {
		for name, f := range s.files {
			if filepath.Dir(name) == filepath.Clean(dir) {
				f.linked = true
			}
		}
	}
	return err
}

// step counts a mutating operation; s.mu is held. It says whether the
// operation reaches the disk and what the caller is told.
func (s *simFS) step() (do bool, err error) {
	if s.dead {
		return false, errPowerCut
	}
	s.ops++
	if s.cutAt == 0 || s.ops < s.cutAt {
		return true, nil
	}
	s.dead = true
	return s.rng.IntN(2) == 0, errPowerCut
}

// cut makes the power go now, if it has not yet.
func (s *simFS) cut() {
	s.mu.Lock()
	s.dead = true
	s.mu.Unlock()
}

func (s *simFS) resetCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resets
}

// Cut modes: what reaches the disk of what was written since the last sync.
const (
	cutDropAll = iota // none of it
	cutKeepAll        // all of it
	cutPrefix         // a prefix, in write order, torn at any byte
	cutSectors        // each 512-byte sector of each write: old, new or garbage
	cutGarbage        // a prefix, then garbage over the rest
	cutModes
)

// powerCut replaces every file by what the disk holds after a cut in mode
// and brings the power back.
func (s *simFS) powerCut(mode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, f := range s.files {
		if !f.linked {
			delete(s.files, name)
			continue
		}
		data := f.afterCut(mode, s.rng)
		*f = simFile{data: data, durable: append([]byte(nil), data...), linked: true, perm: f.perm}
	}
	s.dead, s.ops, s.cutAt = false, 0, 0
}

// kill ends the process, as kill -9 does: the page cache, and what is not
// durable in it, stays as it is.
func (s *simFS) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead, s.ops, s.cutAt = false, 0, 0
}

func (f *simFile) afterCut(mode int, rng *rand.Rand) []byte {
	out := append([]byte(nil), f.durable...)
	total := 0
	for _, w := range f.dirty {
		total += len(w.p)
	}
	keep := total
	switch mode {
	case cutDropAll:
		keep = 0
	case cutPrefix, cutGarbage:
		keep = rng.IntN(total + 1)
	case cutSectors:
		for _, w := range f.dirty {
			for a := w.off; a < w.off+int64(len(w.p)); a = (a/512 + 1) * 512 {
				b := min((a/512+1)*512, w.off+int64(len(w.p)))
				switch rng.IntN(3) {
				case 1:
					out = place(out, a, w.p[a-w.off:b-w.off])
				case 2:
					out = place(out, a, garbage(rng, int(b-a)))
				}
			}
		}
		return out
	}
	for _, w := range f.dirty {
		n := min(keep, len(w.p))
		out = place(out, w.off, w.p[:n])
		if mode == cutGarbage && n < len(w.p) {
			out = place(out, w.off+int64(n), garbage(rng, len(w.p)-n))
		}
		keep -= n
	}
	return out
}

func place(out []byte, off int64, p []byte) []byte {
	if end := off + int64(len(p)); end > int64(len(out)) {
		out = append(out, make([]byte, end-int64(len(out)))...)
	}
	copy(out[off:], p)
	return out
}

func garbage(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

type simHandle struct {
	s    *simFS
	f    *simFile
	name string
}

func (h *simHandle) ReadAt(p []byte, off int64) (int, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *simHandle) WriteAt(p []byte, off int64) (int, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	reset := off == 0 && len(p) == walHeader && allZero(p)
	if reset && h.s.cutAtReset {
		h.s.dead, h.s.cutAtReset = true, false
	}
	do, err := h.s.step()
	if !do {
		return 0, err
	}
	if reset {
		h.s.resets++
	}
	h.f.data = place(h.f.data, off, p)
	h.f.dirty = append(h.f.dirty, simWrite{off: off, p: append([]byte(nil), p...)})
	return len(p), err
}

func allZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

func (h *simHandle) Sync() error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.failSync != nil && !h.s.dead {
		return h.s.failSync
	}
	do, err := h.s.step()
	if do {
		for _, w := range h.f.dirty {
			h.f.durable = place(h.f.durable, w.off, w.p)
		}
		h.f.dirty = nil
	}
	return err
}

func (h *simHandle) Stat() (fs.FileInfo, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return simInfo{name: filepath.Base(h.name), size: int64(len(h.f.data)), perm: h.f.perm}, nil
}

func (h *simHandle) Close() error { return nil }

type simInfo struct {
	name string
	size int64
	perm fs.FileMode
}

func (i simInfo) Name() string       { return i.name }
func (i simInfo) Size() int64        { return i.size }
func (i simInfo) Mode() fs.FileMode  { return i.perm }
func (i simInfo) ModTime() time.Time { return time.Time{} }
func (i simInfo) IsDir() bool        { return false }
func (i simInfo) Sys() any           { return nil }

// withFS opens the log through fsys.
func withFS(fsys walFS) Option { return func(o *options) { o.fs = fsys } }
