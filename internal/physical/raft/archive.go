package raft

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The snapshot archive, what GET sys/storage/raft/snapshot serves and the
// CLI saves: a gzip stream of a tar holding, in this order,
//
//	meta.json           ArchiveMeta: format, version, raft index and term,
//	                    key count, size and SHA-256 of state.bin
//	state.bin           the snapshot stream (snapshot.go), barrier ciphertext
//	SHA256SUMS          "<hex>  meta.json" and "<hex>  state.bin" lines
//	SHA256SUMS.sealed   SHA256SUMS sealed by the caller (the barrier)
//
// The layout is Vault's (its clients check that SHA256SUMS.sealed is there
// and not empty), so `bao operator raft snapshot save` accepts it. meta.json
// comes first, with the body's checksum, so that inspect can describe a
// file from its header; reading verifies every checksum to the end.
const (
	// ArchiveFormat names the format in meta.json.
	ArchiveFormat = "coffer-raft-snapshot"
	// ArchiveVersion is the version this package writes and reads.
	ArchiveVersion = 1

	archiveMeta   = "meta.json"
	archiveState  = "state.bin"
	archiveSums   = "SHA256SUMS"
	archiveSealed = "SHA256SUMS.sealed"
	maxSmallFile  = 64 << 10
)

// ArchiveMeta is the header of a snapshot archive.
type ArchiveMeta struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Index is the raft index of the last write in the snapshot; Term the
	// raft term when it was taken.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Keys is how many keys state.bin holds; StateSize and StateSHA256
	// its length and checksum.
	Keys        uint64    `json:"keys"`
	StateSize   int64     `json:"state_size"`
	StateSHA256 string    `json:"state_sha256"`
	NodeID      string    `json:"node_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// hashCounter counts and hashes what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

// WriteArchive writes a consistent snapshot archive of this node's state
// machine to w and returns its header. seal, which must not return an empty
// result, seals the SHA256SUMS file (the core passes the barrier). The view
// is read twice, first to learn state.bin's size and checksum for the
// header, then to stream it: nothing is held in memory but one key and
// value at a time. A failure after the first byte leaves w with an
// incomplete archive, which every reader refuses.
func (b *Backend) WriteArchive(ctx context.Context, w io.Writer, seal func(sums []byte) ([]byte, error)) (ArchiveMeta, error) {
	if err := b.open(ctx); err != nil {
		return ArchiveMeta{}, err
	}
	term := b.r().CurrentTerm()
	snap, err := b.fsm.Snapshot()
	if err != nil {
		return ArchiveMeta{}, err
	}
	defer snap.Release()
	tx := snap.(*fsmSnapshot).tx
	pre := &hashCounter{h: sha256.New()}
	info, err := writeSnapshot(tx, pre)
	if err != nil {
		return ArchiveMeta{}, fmt.Errorf("measure snapshot: %w", err)
	}
	meta := ArchiveMeta{Format: ArchiveFormat, Version: ArchiveVersion, Index: info.AppliedIndex, Term: term,
		Keys: info.Keys, StateSize: pre.n, StateSHA256: hex.EncodeToString(pre.h.Sum(nil)), NodeID: b.nodeID,
		CreatedAt: time.Now().UTC()}
	if err := writeArchive(ctx, w, tx, meta, seal); err != nil {
		return meta, fmt.Errorf("write snapshot archive: %w", err)
	}
	return meta, nil
}

func writeArchive(ctx context.Context, w io.Writer, tx *bbolt.Tx, meta ArchiveMeta, seal func([]byte) ([]byte, error)) error {
	gz, _ := gzip.NewWriterLevel(w, gzip.NoCompression) // values are ciphertext: compressing them buys nothing
	tw := tar.NewWriter(gz)
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := addFile(tw, archiveMeta, metaJSON, meta.CreatedAt); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: archiveState, Mode: 0o600, Size: meta.StateSize, ModTime: meta.CreatedAt}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	again := &hashCounter{h: sha256.New()}
	if _, err := writeSnapshot(tx, io.MultiWriter(tw, again)); err != nil {
		return err
	}
	if hex.EncodeToString(again.h.Sum(nil)) != meta.StateSHA256 || again.n != meta.StateSize {
		return errors.New("the state changed between the two reads of one view") // cannot happen with bbolt
	}
	metaSum := sha256.Sum256(metaJSON)
	sums := fmt.Appendf(nil, "%s  %s\n%s  %s\n", hex.EncodeToString(metaSum[:]), archiveMeta, meta.StateSHA256, archiveState)
	sealed, err := seal(sums)
	if err != nil {
		return fmt.Errorf("seal checksums: %w", err)
	}
	if len(sealed) == 0 {
		return errors.New("seal checksums: empty result")
	}
	if err := addFile(tw, archiveSums, sums, meta.CreatedAt); err != nil {
		return err
	}
	if err := addFile(tw, archiveSealed, sealed, meta.CreatedAt); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addFile(tw *tar.Writer, name string, body []byte, mod time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), ModTime: mod}); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// ReadArchive reads and verifies a snapshot archive from r: the header, the
// stream with its own checksum, state.bin's checksum against the header's,
// SHA256SUMS, the presence of SHA256SUMS.sealed, nothing after it, and the
// gzip checksum. It copies state.bin's bytes to state when not nil, and
// calls fn (when not nil) for every key, which must treat them as
// provisional until ReadArchive returns nil. Every refusal of the archive
// wraps ErrBadSnapshot; fn's own errors are returned as they are.
func ReadArchive(r io.Reader, state io.Writer, fn func(key, value []byte) error) (ArchiveMeta, error) {
	var meta ArchiveMeta
	gz, err := gzip.NewReader(r)
	if err != nil {
		return meta, fmt.Errorf("%w: not a gzip stream", ErrBadSnapshot)
	}
	tr := tar.NewReader(gz)
	metaJSON, err := readSmall(tr, archiveMeta)
	if err != nil {
		return meta, err
	}
	if err := json.Unmarshal(metaJSON, &meta); err != nil || meta.Format != ArchiveFormat {
		return meta, fmt.Errorf("%w: %s is not a coffer snapshot header", ErrBadSnapshot, archiveMeta)
	}
	if meta.Version != ArchiveVersion {
		return meta, fmt.Errorf("%w: archive version %d is not supported (this server reads %d)", ErrBadSnapshot, meta.Version, ArchiveVersion)
	}
	if err := readState(tr, meta, state, fn); err != nil {
		return meta, err
	}
	sums, err := readSmall(tr, archiveSums)
	if err != nil {
		return meta, err
	}
	metaSum := sha256.Sum256(metaJSON)
	want := fmt.Appendf(nil, "%s  %s\n%s  %s\n", hex.EncodeToString(metaSum[:]), archiveMeta, meta.StateSHA256, archiveState)
	if subtle.ConstantTimeCompare(sums, want) != 1 {
		return meta, fmt.Errorf("%w: %s does not match the archive", ErrBadSnapshot, archiveSums)
	}
	if sealed, err := readSmall(tr, archiveSealed); err != nil {
		return meta, err
	} else if len(sealed) == 0 {
		return meta, fmt.Errorf("%w: %s is empty", ErrBadSnapshot, archiveSealed)
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return meta, fmt.Errorf("%w: unexpected data after %s", ErrBadSnapshot, archiveSealed)
	}
	// The gzip trailer's CRC and length are checked only at its end.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return meta, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return meta, nil
}

func readState(tr *tar.Reader, meta ArchiveMeta, state io.Writer, fn func(key, value []byte) error) error {
	h, err := tr.Next()
	if err != nil || h.Name != archiveState {
		return fmt.Errorf("%w: %s missing (archive cut off?)", ErrBadSnapshot, archiveState)
	}
	if h.Size != meta.StateSize {
		return fmt.Errorf("%w: %s is %d bytes, the header says %d", ErrBadSnapshot, archiveState, h.Size, meta.StateSize)
	}
	if state == nil {
		state = io.Discard
	}
	if fn == nil {
		fn = func(_, _ []byte) error { return nil }
	}
	hc := &hashCounter{h: sha256.New()}
	info, err := ReadSnapshot(io.TeeReader(tr, io.MultiWriter(hc, state)), fn)
	if err != nil {
		if errors.Is(err, tar.ErrInsecurePath) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		return err
	}
	if hc.n != meta.StateSize || hex.EncodeToString(hc.h.Sum(nil)) != meta.StateSHA256 {
		return fmt.Errorf("%w: %s does not match the checksum in the header", ErrBadSnapshot, archiveState)
	}
	if info.Keys != meta.Keys || info.AppliedIndex != meta.Index {
		return fmt.Errorf("%w: the header's key count or index does not match %s", ErrBadSnapshot, archiveState)
	}
	return nil
}

func readSmall(tr *tar.Reader, name string) ([]byte, error) {
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%w: %s missing (archive cut off?)", ErrBadSnapshot, name)
	}
	if h.Name != name || h.Size > maxSmallFile {
		return nil, fmt.Errorf("%w: expected %s, found %.60q", ErrBadSnapshot, name, h.Name)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, tr, h.Size); err != nil {
		return nil, fmt.Errorf("%w: %s cut off", ErrBadSnapshot, name)
	}
	return buf.Bytes(), nil
}

// OnRestore makes fn run, in a goroutine of its own, each time this node's
// state machine is replaced by a snapshot other than through its own
// PreparedRestore.Apply: a follower installing the leader's restore or
// catching up from a snapshot. Whatever caches data read from storage (the
// core's keyring, mounts, tokens) must reload it then. One fn; nil stops.
func (b *Backend) OnRestore(fn func()) {
	if fn == nil {
		b.fsm.onRestore.Store(nil)
		return
	}
	b.fsm.onRestore.Store(&fn)
}
