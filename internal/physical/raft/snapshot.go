package raft

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// The snapshot stream (what raft's snapshot store and, later,
// sys/storage/raft/snapshot hold; every value is barrier ciphertext):
//
//	magic
//	uvarint applied index (the last log entry the FSM applied)
//	per key, in key order: 'k', uvarint key length, key, uvarint value length, value
//	'e', uvarint number of keys, SHA-256 of every byte before it
//
// and nothing after. The checksum catches truncation and corruption; it is
// not a signature (integrity against an attacker comes from the barrier's
// authenticated encryption of each value).
var snapshotMagic = []byte("coffer-raft-snapshot-v1\n")

const (
	recordKey byte = 'k'
	recordEnd byte = 'e'
	// maxValueLen is bbolt's limit for one value.
	maxValueLen = 1<<31 - 2
)

// SnapshotInfo describes a verified snapshot stream.
type SnapshotInfo struct {
	// AppliedIndex is the raft index of the last write in the snapshot.
	AppliedIndex uint64
	// Keys is the number of keys it holds.
	Keys uint64
}

// snapshotWriter writes the stream and hashes what it writes.
type snapshotWriter struct {
	w    *bufio.Writer
	h    hash.Hash
	keys uint64
	buf  []byte
}

func newSnapshotWriter(w io.Writer, applied uint64) (*snapshotWriter, error) {
	h := sha256.New()
	sw := &snapshotWriter{w: bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10), h: h}
	sw.buf = binary.AppendUvarint(append(sw.buf, snapshotMagic...), applied)
	_, err := sw.w.Write(sw.buf)
	return sw, err
}

func (sw *snapshotWriter) add(key, value []byte) error {
	sw.buf = append(sw.buf[:0], recordKey)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(key)))
	sw.buf = append(sw.buf, key...)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(value)))
	if _, err := sw.w.Write(sw.buf); err != nil {
		return err
	}
	sw.keys++
	_, err := sw.w.Write(value)
	return err
}

// finish writes the trailer; the checksum covers everything before it.
func (sw *snapshotWriter) finish() error {
	sw.buf = binary.AppendUvarint(append(sw.buf[:0], recordEnd), sw.keys)
	if _, err := sw.w.Write(sw.buf); err != nil {
		return err
	}
	if err := sw.w.Flush(); err != nil {
		return err
	}
	// Everything before the sum is flushed, hence hashed; the sum's own
	// bytes then pass through the hash too, which no longer matters.
	if _, err := sw.w.Write(sw.h.Sum(nil)); err != nil {
		return err
	}
	return sw.w.Flush()
}

// hashReader reads through br and hashes every byte it hands out.
type hashReader struct {
	br *bufio.Reader
	h  hash.Hash
}

func (r *hashReader) Read(p []byte) (int, error) {
	n, err := r.br.Read(p)
	r.h.Write(p[:n])
	return n, err
}

func (r *hashReader) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.h.Write([]byte{b})
	}
	return b, err
}

// ReadSnapshot reads a snapshot stream from r, calling fn for every key in
// order, and returns what it held once the trailer's count and checksum
// match and nothing follows. fn sees keys before the stream is verified: a
// caller must treat them as provisional until ReadSnapshot returns nil
// (errors wrap ErrBadSnapshot, or are fn's own). key and value are only
// valid during the call.
func ReadSnapshot(r io.Reader, fn func(key, value []byte) error) (SnapshotInfo, error) {
	hr := &hashReader{br: bufio.NewReaderSize(r, 256<<10), h: sha256.New()}
	var info SnapshotInfo
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(hr, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return info, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	var err error
	if info.AppliedIndex, err = binary.ReadUvarint(hr); err != nil {
		return info, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	var key, value bytes.Buffer
	for {
		tag, err := hr.ReadByte()
		if err != nil {
			return info, fmt.Errorf("%w: cut off after %d keys", ErrBadSnapshot, info.Keys)
		}
		if tag == recordEnd {
			return info, readTrailer(hr, info)
		}
		if tag != recordKey {
			return info, fmt.Errorf("%w: unknown record after %d keys", ErrBadSnapshot, info.Keys)
		}
		if err := readField(hr, &key, maxKeyLen); err != nil || key.Len() == 0 {
			return info, fmt.Errorf("%w: key %d: %v", ErrBadSnapshot, info.Keys+1, err)
		}
		if err := readField(hr, &value, maxValueLen); err != nil {
			return info, fmt.Errorf("%w: value %d: %v", ErrBadSnapshot, info.Keys+1, err)
		}
		info.Keys++
		if err := fn(key.Bytes(), value.Bytes()); err != nil {
			return info, err
		}
	}
}

// readField reads a uvarint length and that many bytes into buf, growing it
// as bytes arrive, so a corrupted length costs no more memory than the
// stream really holds.
func readField(hr *hashReader, buf *bytes.Buffer, limit uint64) error {
	n, err := binary.ReadUvarint(hr)
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("length %d over the limit %d", n, limit)
	}
	buf.Reset()
	if _, err := io.CopyN(buf, hr, int64(n)); err != nil {
		return err
	}
	return nil
}

func readTrailer(hr *hashReader, info SnapshotInfo) error {
	count, err := binary.ReadUvarint(hr)
	if err != nil {
		return fmt.Errorf("%w: trailer: %v", ErrBadSnapshot, err)
	}
	want := hr.h.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(hr.br, got); err != nil {
		return fmt.Errorf("%w: checksum cut off", ErrBadSnapshot)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	if count != info.Keys {
		return fmt.Errorf("%w: trailer says %d keys, stream held %d", ErrBadSnapshot, count, info.Keys)
	}
	if _, err := hr.br.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the checksum", ErrBadSnapshot)
	}
	return nil
}
