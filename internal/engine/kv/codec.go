package kv

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// Metadata is read on every request, so it is stored in a small binary
// form rather than JSON: decoding it costs a few hundred nanoseconds and no
// reflection. The first byte is the format version, so the layout can
// change without misreading old records.
//
// Layout (uvarint unless noted): format byte, current, oldest, max_versions,
// cas_required byte, delete_version_after (varint ns), created (varint ns),
// updated (varint ns), number of custom pairs, then each key and value as
// length-prefixed bytes, number of versions, then each version as number,
// created (varint), deletion (varint), destroyed byte. Versions are written
// in ascending order so that equal metadata encodes to equal bytes.
//
// Format 2 adds, last, the current version's data as length-prefixed bytes
// (see keyMeta.Head). A record without that copy is still written as
// format 1, so a release that predates format 2 can read every record but
// those holding a copy; format 1 records, old or new, read as having none,
// so a store needs no migration: a secret gains the copy at its next write.
const (
	metaFormat1 = 1
	metaFormat  = 2
)

// inlineLimit is the largest version data kept in the metadata record as
// well: small secrets, the common case, read in one storage Get; larger
// ones would make every metadata read and write carry them.
const inlineLimit = 1024

// encodeMeta returns the stored form of m.
func encodeMeta(m *keyMeta) []byte {
	head := m.head()
	b := make([]byte, 0, 64+24*len(m.Versions)+32*len(m.CustomMetadata)+len(head))
	b = append(b, metaFormat1)
	if head != nil {
		b[0] = metaFormat
	}
	b = binary.AppendUvarint(b, m.CurrentVersion)
	b = binary.AppendUvarint(b, m.OldestVersion)
	b = binary.AppendUvarint(b, uint64(m.MaxVersions))
	b = appendBool(b, m.CASRequired)
	b = binary.AppendVarint(b, int64(m.DeleteVersionAfter))
	b = binary.AppendVarint(b, m.CreatedTime)
	b = binary.AppendVarint(b, m.UpdatedTime)
	b = binary.AppendUvarint(b, uint64(len(m.CustomMetadata)))
	keys := make([]string, 0, len(m.CustomMetadata))
	for k := range m.CustomMetadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m.CustomMetadata[k])
	}
	b = binary.AppendUvarint(b, uint64(len(m.Versions)))
	vs := make([]uint64, 0, len(m.Versions))
	for v := range m.Versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	for _, v := range vs {
		vm := m.Versions[v]
		b = binary.AppendUvarint(b, v)
		b = binary.AppendVarint(b, vm.CreatedTime)
		b = binary.AppendVarint(b, vm.DeletionTime)
		b = appendBool(b, vm.Destroyed)
	}
	if head != nil {
		b = appendString(b, string(head))
	}
	return b
}

// head is the copy encodeMeta stores: Head, unless the current version it
// copies is gone or destroyed (destroyed data must leave storage).
func (m *keyMeta) head() []byte {
	vm, ok := m.Versions[m.CurrentVersion]
	if !ok || vm.Destroyed || len(m.Head) > inlineLimit {
		return nil
	}
	return m.Head
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the stored form, remembering the first error so that
// decodeMeta can check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: metadata: bad %s", ErrCorruptEntry, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool(what string) bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail(what)
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// bytes reads length-prefixed bytes without copying them; nil for none.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count reads a number of items that each take at least min bytes, so that
// a corrupt count cannot make decodeMeta allocate more than the input holds.
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

// decodeMeta parses the stored form written by encodeMeta.
func decodeMeta(raw []byte) (*keyMeta, error) {
	m := &keyMeta{}
	if _, _, err := decodeMetaInto(m, raw, 0, true); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeMetaInto parses raw into m. With all set it fills m.Versions;
// otherwise, for a read of one version, it leaves m.Versions nil and
// returns only version want (the current one when want is 0) and whether
// the record keeps it. Either way the whole record is checked.
func decodeMetaInto(m *keyMeta, raw []byte, want uint64, all bool) (versionMeta, bool, error) {
	if len(raw) == 0 || raw[0] != metaFormat && raw[0] != metaFormat1 {
		return versionMeta{}, false, fmt.Errorf("%w: metadata: unknown format", ErrCorruptEntry)
	}
	d := &decoder{b: raw[1:]}
	m.CurrentVersion = d.uvarint("current version")
	m.OldestVersion = d.uvarint("oldest version")
	maxV := d.uvarint("max_versions")
	if maxV > math.MaxInt32 {
		d.fail("max_versions")
	}
	m.MaxVersions = int(maxV)
	m.CASRequired = d.bool("cas_required")
	m.DeleteVersionAfter = time.Duration(d.varint("delete_version_after"))
	m.CreatedTime = d.varint("created time")
	m.UpdatedTime = d.varint("updated time")
	if n := d.count("custom metadata", 2); n > 0 {
		m.CustomMetadata = make(map[string]string, n)
		for range n {
			k := d.string("custom metadata key")
			m.CustomMetadata[k] = d.string("custom metadata value")
		}
	}
	if want == 0 {
		want = m.CurrentVersion
	}
	n := d.count("versions", 4)
	if all {
		m.Versions = make(map[uint64]versionMeta, n)
	}
	var found versionMeta
	var ok, current bool
	for range n {
		v := d.uvarint("version number")
		vm := versionMeta{
			CreatedTime:  d.varint("version created time"),
			DeletionTime: d.varint("version deletion time"),
			Destroyed:    d.bool("version destroyed"),
		}
		if all {
			m.Versions[v] = vm
		}
		if v == want {
			found, ok = vm, true
		}
		if v == m.CurrentVersion && !vm.Destroyed {
			current = true
		}
	}
	m.Head = nil
	if raw[0] == metaFormat {
		// Only what encodeMeta writes: a copy of a kept, undestroyed
		// current version, within the limit.
		if m.Head = d.bytes("current version data"); m.Head != nil && (!current || len(m.Head) > inlineLimit) {
			d.fail("current version data")
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return versionMeta{}, false, d.err
	}
	return found, ok, nil
}
