package bolt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/cofferhq/coffer/internal/physical"
)

// WALFileName is the write-ahead log next to FileName. It holds the
// transactions acknowledged since bbolt last caught up with them; it is
// empty after a clean Close.
const WALFileName = "coffer.wal"

// The log is a file of fixed size (walSize, zero-filled when created), so
// that appending overwrites blocks already allocated and an fdatasync
// flushes data only, no file-size change through the journal. It holds a
// sequence of records, one per transaction, from offset 0:
//
//	u32 payload length | u32 CRC-32C of (length, payload) | payload
//	payload: u64 epoch | u64 seq | u32 op count | ops
//	op:      u8 delete | u32 key length | key | u32 value length | value
//
// Emptying the log zeroes the first header and draws a new random epoch;
// records left further on from before carry another epoch (or are not the
// next seq), so reading stops at them. A length is trusted only once it
// fits in the rest of the file and under walMaxRecord, so a corrupt one
// never makes the replay allocate more than the file holds.
const walHeader = 8

// walMaxRecord bounds one transaction's record; Transaction refuses
// larger ones (ErrTooLarge) so that the u32 length can never wrap. A var
// for the tests.
var walMaxRecord int64 = 1 << 30

// walSize is the size of a new log. A var for the tests.
var walSize int64 = 16 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walRecord is one transaction read back from the log.
type walRecord struct {
	epoch uint64
	seq   uint64
	ops   []physical.TxnOp
}

// wal appends transactions to the log file. It is not safe for concurrent
// use: the backend's group commit calls it from one goroutine at a time.
type wal struct {
	f     logFile
	size  int64 // bytes of records from offset 0
	cap   int64 // file size
	epoch uint64
	seq   uint64 // of the last record appended or replayed
	buf   []byte
	// damage is what read found past the point where it stopped.
	damage Damage
}

// Damage describes records of the log's current life found after a
// damaged one at open. Replay stops at the damaged record, so the
// transactions it and the later ones held are not replayed: acknowledged
// writes, unless the damage is the torn last group of a power cut.
type Damage struct {
	Offset int64 // of the damaged record
	Seq    uint64
	Later  int // valid records of the same life after it
}

// openWAL opens or creates the log in dir and reads back every whole,
// valid record in order. Reading stops at the first record that is short,
// fails its checksum, or is not the next seq of the same epoch: only the
// tail of a write whose fdatasync never returned (never acknowledged), or
// records from before the log was last emptied, can be in that state.
func openWAL(dir string, fsys walFS) (*wal, []walRecord, error) {
	path := filepath.Join(dir, WALFileName)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	// Whoever can write the log can make the next start delete any key or
	// put back any earlier ciphertext, so it is held to the database
	// file's rule (checkPermissions), on the very file opened.
	if err := checkFileMode(f, path, "write-ahead log"); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	w := &wal{f: f}
	recs, err := w.read()
	if err == nil {
		err = w.preallocate()
	}
	if err == nil {
		// Every open, not only the one that created the file: a process
		// killed between the creation and this sync leaves a file whose
		// directory entry a power cut could still take away.
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("write-ahead log %s: %w", path, err)
	}
	return w, recs, nil
}

// preallocate zero-fills a log shorter than walSize (a new one) and syncs
// it.
func (w *wal) preallocate() error {
	if w.cap >= walSize {
		return nil
	}
	zeros := make([]byte, 1<<20)
	for off := w.cap; off < walSize; off += int64(len(zeros)) {
		if _, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), walSize-off)], off); err != nil {
			return err
		}
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.cap = walSize
	return nil
}

// read decodes the valid prefix of the file and sets cap, size, epoch and
// seq.
func (w *wal) read() ([]walRecord, error) {
	fi, err := w.f.Stat()
	if err != nil {
		return nil, err
	}
	w.cap = fi.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(w.f, 0, w.cap), 64<<10)
	var recs []walRecord
	var legacy bool // records of the first format, CRC of the payload alone
	hdr := make([]byte, walHeader)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return recs, ignoreEOF(err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr))
		// A length past the end of the file (or of any record) is a torn
		// or damaged header: stop before allocating it (up to 4 GiB).
		if n < 20 || n > walMaxRecord || n > w.cap-w.size-walHeader {
			return recs, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return recs, ignoreEOF(err)
		}
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if len(recs) == 0 {
			legacy = sum != recordCRC(hdr, payload) && sum == crc32.Checksum(payload, crcTable)
		}
		if !legacy && sum != recordCRC(hdr, payload) || legacy && sum != crc32.Checksum(payload, crcTable) {
			if len(recs) > 0 {
				w.damage = w.laterRecords(r, legacy, n)
			}
			return recs, nil
		}
		epoch := binary.LittleEndian.Uint64(payload)
		rec, ok := decodeRecord(payload[8:])
		if !ok || (len(recs) > 0 && (epoch != w.epoch || rec.seq != w.seq+1)) {
			return recs, nil
		}
		rec.epoch = epoch
		w.epoch, w.seq = epoch, rec.seq
		w.size += walHeader + n
		recs = append(recs, rec)
	}
}

// laterRecords counts the valid records continuing the current life
// (seq w.seq+2 on) right after a damaged one of n bytes, which r has just
// read. Leftovers of an earlier life or a torn
// tail never continue the sequence; a damaged record in the middle of the
// log does.
func (w *wal) laterRecords(r io.Reader, legacy bool, n int64) Damage {
	d := Damage{Offset: w.size, Seq: w.seq + 1}
	hdr := make([]byte, walHeader)
	for off := w.size + walHeader + n; ; {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return d
		}
		m := int64(binary.LittleEndian.Uint32(hdr))
		if m < 20 || m > walMaxRecord || m > w.cap-off-walHeader {
			return d
		}
		payload := make([]byte, m)
		if _, err := io.ReadFull(r, payload); err != nil {
			return d
		}
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if !legacy && sum != recordCRC(hdr, payload) || legacy && sum != crc32.Checksum(payload, crcTable) {
			return d
		}
		rec, ok := decodeRecord(payload[8:])
		if !ok || binary.LittleEndian.Uint64(payload) != w.epoch || rec.seq != d.Seq+1+uint64(d.Later) {
			return d
		}
		d.Later++
		off += walHeader + m
	}
}

// recordCRC is the checksum of a record: its length field and payload.
func recordCRC(hdr, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(hdr[:4], crcTable), crcTable, payload)
}

// recordSize is the size of the record of one transaction.
func recordSize(ops []physical.TxnOp) int64 {
	n := int64(walHeader + 20)
	for _, op := range ops {
		n += 9 + int64(len(op.Entry.Key))
		if !op.Delete {
			n += int64(len(op.Entry.Value))
		}
	}
	return n
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

func decodeRecord(p []byte) (walRecord, bool) {
	if len(p) < 12 {
		return walRecord{}, false
	}
	rec := walRecord{seq: binary.LittleEndian.Uint64(p)}
	count := binary.LittleEndian.Uint32(p[8:])
	p = p[12:]
	for range count {
		if len(p) < 5 {
			return walRecord{}, false
		}
		del := p[0] == 1
		key, rest, ok := cut(p[1:])
		if !ok || len(rest) < 4 {
			return walRecord{}, false
		}
		val, rest, ok := cut(rest)
		if !ok {
			return walRecord{}, false
		}
		rec.ops = append(rec.ops, physical.TxnOp{Delete: del, Entry: &physical.Entry{Key: string(key), Value: val}})
		p = rest
	}
	return rec, len(p) == 0
}

// cut splits a u32-length-prefixed field off p.
func cut(p []byte) (field, rest []byte, ok bool) {
	n := int(binary.LittleEndian.Uint32(p))
	if n > len(p)-4 {
		return nil, nil, false
	}
	return p[4 : 4+n : 4+n], p[4+n:], true
}

// encode returns the records of txns, numbered from w.seq+1.
func (w *wal) encode(txns [][]physical.TxnOp) []byte {
	buf := w.buf[:0]
	for i, ops := range txns {
		start := len(buf)
		buf = append(buf, make([]byte, walHeader)...)
		buf = binary.LittleEndian.AppendUint64(buf, w.epoch)
		buf = binary.LittleEndian.AppendUint64(buf, w.seq+1+uint64(i))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ops)))
		for _, op := range ops {
			del, val := byte(0), op.Entry.Value
			if op.Delete {
				del, val = 1, nil
			}
			buf = append(buf, del)
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(op.Entry.Key)))
			buf = append(buf, op.Entry.Key...)
			buf = binary.LittleEndian.AppendUint32(buf, uint32(len(val)))
			buf = append(buf, val...)
		}
		payload := buf[start+walHeader:]
		binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(buf[start+4:], recordCRC(buf[start:], payload))
	}
	if cap(buf) <= 1<<20 {
		w.buf = buf
	}
	return buf
}

// fits reports whether records of n bytes fit before the end of the file;
// when they do not, the log must be emptied first (a group larger than the
// whole file grows it).
func (w *wal) fits(n int) bool { return w.size == 0 || w.size+int64(n) <= w.cap }

// append writes one record per transaction in one write, fdatasyncs the
// file and returns the seq of the first record. On error the log may hold
// part of the group, so the caller must not append again.
func (w *wal) append(buf []byte, txns int) (uint64, error) {
	if _, err := w.f.WriteAt(buf, w.size); err != nil {
		return 0, fmt.Errorf("append to write-ahead log: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return 0, fmt.Errorf("sync write-ahead log: %w", err)
	}
	w.size += int64(len(buf))
	w.cap = max(w.cap, w.size)
	first := w.seq + 1
	w.seq += uint64(txns)
	return first, nil
}

// reset empties the log once bbolt holds (and has fsynced) every record in
// it: the first header is zeroed and synced before anything is appended
// again, and later records get a new epoch.
func (w *wal) reset() error {
	if _, err := w.f.WriteAt(make([]byte, walHeader), 0); err != nil {
		return fmt.Errorf("empty write-ahead log: %w", err)
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("sync write-ahead log: %w", err)
	}
	w.size, w.epoch = 0, rand.Uint64()
	return nil
}

func (w *wal) close() error { return w.f.Close() }

// walMetaBucket holds, in bbolt's file, the epoch and seq of the last log
// record bbolt holds (walAppliedKey), written in the commit that applies it.
var walMetaBucket, walAppliedKey = []byte("coffer.wal"), []byte("applied")

// replay applies recs to db in one commit, with the epoch and seq of the
// last one. Only each key's last write is applied, in key order: in one
// commit that leaves the same state as applying every record in turn, and
// a key rewritten by many writes in the gathering (a KV secret's metadata)
// costs bbolt one Put, not one per write.
func replay(db *bbolt.DB, recs []walRecord) error {
	ops := lastWrites(recs)
	return db.Update(func(tx *bbolt.Tx) error {
		if err := apply(tx.Bucket(bucketName), ops); err != nil {
			return fmt.Errorf("replay write-ahead log records %d-%d: %w", recs[0].seq, recs[len(recs)-1].seq, err)
		}
		meta, err := tx.CreateBucketIfNotExists(walMetaBucket)
		if err != nil {
			return err
		}
		last := recs[len(recs)-1]
		v := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, last.epoch), last.seq)
		return meta.Put(walAppliedKey, v)
	})
}

// lastWrites returns the last operation of each key in recs, sorted by key.
func lastWrites(recs []walRecord) []physical.TxnOp {
	n := 0
	for _, r := range recs {
		n += len(r.ops)
	}
	seen := make(map[string]struct{}, n)
	out := make([]physical.TxnOp, 0, n)
	for i := len(recs) - 1; i >= 0; i-- {
		ops := recs[i].ops
		for j := len(ops) - 1; j >= 0; j-- {
			if _, dup := seen[ops[j].Entry.Key]; !dup {
				seen[ops[j].Entry.Key] = struct{}{}
				out = append(out, ops[j])
			}
		}
	}
	slices.SortFunc(out, func(a, b physical.TxnOp) int { return strings.Compare(a.Entry.Key, b.Entry.Key) })
	return out
}

// notApplied drops the records bbolt already holds. Replaying them again
// would be harmless if the log always held at least what bbolt holds, but
// it may not: a start after a kill reads back (from the page cache) a
// record whose fdatasync never returned and commits it to bbolt; a power
// cut before the log is emptied then leaves bbolt with that record and the
// log without it, and replaying the log's earlier records would put back
// older values of some of its keys and not others. Records of another
// epoch than bbolt's last are all newer: the log is emptied, and its epoch
// changed, only once bbolt holds every record in it.
func notApplied(db *bbolt.DB, recs []walRecord) ([]walRecord, error) {
	var epoch, seq uint64
	err := db.View(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(walMetaBucket); meta != nil {
			if v := meta.Get(walAppliedKey); len(v) == 16 {
				epoch, seq = binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])
			}
		}
		return nil
	})
	for len(recs) > 0 && recs[0].epoch == epoch && recs[0].seq <= seq {
		recs = recs[1:]
	}
	return recs, err
}

// checkOp refuses, before anything is logged, what bbolt would refuse at
// commit: once a write is acknowledged its commit can no longer fail it.
func checkOp(op physical.TxnOp) error {
	if len(op.Entry.Key) > bbolt.MaxKeySize {
		return fmt.Errorf("key of %d bytes: %w", len(op.Entry.Key), ErrTooLarge)
	}
	if !op.Delete && int64(len(op.Entry.Value)) > bbolt.MaxValueSize {
		return fmt.Errorf("value of %d bytes: %w", len(op.Entry.Value), ErrTooLarge)
	}
	return nil
}

// syncDir fsyncs a directory, so that a file created in it survives a
// power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
