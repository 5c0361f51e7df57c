package kv

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// storedMeta is the metadata record of path as the engine stored it.
func storedMeta(t *testing.T, s *logical.InmemStorage, path string) (*keyMeta, []byte) {
	t.Helper()
	e, err := s.Get(t.Context(), metadataPrefix+path)
	if err != nil || e == nil {
		t.Fatalf("metadata of %s: %v %v", path, e, err)
	}
	return mustDecode(t, e.Value), e.Value
}

// readData answers the data of a read (of a version, with a query) as
// JSON.
func readData(t *testing.T, b logical.Backend, path string, query ...string) string {
	t.Helper()
	resp := mustDo(t, b, getq(path, strings.Join(query, "")))
	raw, err := json.Marshal(resp.Data["data"])
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestCurrentReadUsesTheCopy shows that a read of the current version is
// answered from the metadata record: with the version's own key removed
// behind the engine's back it still reads, while the previous version,
// asked for by number, comes from its key.
func TestCurrentReadUsesTheCopy(t *testing.T) {
	b, s, _ := newTestV2(t)
	mustDo(t, b, put("data/app", `{"data":{"v":"one"}}`), put("data/app", `{"data":{"v":"two"}}`))
	m, _ := storedMeta(t, s, "app")
	if string(m.Head) != `{"v":"two"}` {
		t.Fatalf("record keeps %q; want the current version's data", m.Head)
	}
	if err := s.Delete(t.Context(), versionKey(hashPath("app"), 2)); err != nil {
		t.Fatal(err)
	}
	if got := readData(t, b, "data/app"); got != `{"v":"two"}` {
		t.Fatalf("current read: %s", got)
	}
	if got := readData(t, b, "data/app", `{"version":"1"}`); got != `{"v":"one"}` {
		t.Fatalf("version 1: %s", got)
	}
	// An explicit read of the current number takes the copy too.
	if got := readData(t, b, "data/app", `{"version":"2"}`); got != `{"v":"two"}` {
		t.Fatalf("version 2: %s", got)
	}
}

// TestDestroyRemovesTheCopy: destroying the current version takes its data
// out of the metadata record too, in the same transaction.
func TestDestroyRemovesTheCopy(t *testing.T) {
	b, s, _ := newTestV2(t)
	mustDo(t, b, put("data/app", `{"data":{"password":"hunter2-secret"}}`))
	mustDo(t, b, put("destroy/app", `{"versions":[1]}`))
	m, raw := storedMeta(t, s, "app")
	if m.Head != nil || raw[0] != metaFormat1 || bytes.Contains(raw, []byte("hunter2-secret")) {
		t.Fatalf("destroyed data still in the metadata record: %q", raw)
	}
	resp := mustDo(t, b, get("data/app"))
	if resp.Data["data"] != nil {
		t.Fatalf("destroyed version read: %v", resp.Data)
	}
	// Soft delete keeps the copy (undelete brings the data back), but
	// reads do not see it.
	mustDo(t, b, put("data/app", `{"data":{"v":"2"}}`), del("data/app"))
	if resp := mustDo(t, b, get("data/app")); resp.Data["data"] != nil {
		t.Fatalf("deleted version read: %v", resp.Data)
	}
	mustDo(t, b, put("undelete/app", `{"versions":[2]}`))
	if got := readData(t, b, "data/app"); got != `{"v":"2"}` {
		t.Fatalf("after undelete: %s", got)
	}
}

// TestLargeDataIsNotCopied: data over inlineLimit stays only under
// versions/, and reads of it still work.
func TestLargeDataIsNotCopied(t *testing.T) {
	b, s, _ := newTestV2(t)
	big := strings.Repeat("x", inlineLimit)
	mustDo(t, b, put("data/big", `{"data":{"v":"`+big+`"}}`))
	if m, _ := storedMeta(t, s, "big"); m.Head != nil {
		t.Fatalf("record copies %d bytes", len(m.Head))
	}
	if got := readData(t, b, "data/big"); got != `{"v":"`+big+`"}` {
		t.Fatalf("read %d bytes", len(got))
	}
	// Shrinking it brings the copy back; growing it again drops it.
	mustDo(t, b, patch("data/big", `{"data":{"v":"small"}}`))
	if m, _ := storedMeta(t, s, "big"); string(m.Head) != `{"v":"small"}` {
		t.Fatalf("record keeps %q", m.Head)
	}
	mustDo(t, b, put("data/big", `{"data":{"v":"`+big+`"}}`))
	if m, _ := storedMeta(t, s, "big"); m.Head != nil {
		t.Fatalf("record still copies %q", m.Head)
	}
	if got := readData(t, b, "data/big"); got != `{"v":"`+big+`"}` {
		t.Fatalf("read %d bytes after growing", len(got))
	}
}

// TestFormat1RecordsStillRead: a store written before format 2 needs no
// migration. Its records read through the version key, metadata changes
// keep them working, and the next write adds the copy.
func TestFormat1RecordsStillRead(t *testing.T) {
	b, s, _ := newTestV2(t)
	mustDo(t, b, put("data/old", `{"data":{"v":"1"}}`))
	m, _ := storedMeta(t, s, "old")
	m.Head = nil
	// Without a copy the record is written as an earlier release wrote it.
	old := encodeMeta(m)
	if old[0] != metaFormat1 {
		t.Fatalf("a record without a copy is format %d", old[0])
	}
	if err := s.Put(t.Context(), &logical.StorageEntry{Key: metadataPrefix + "old", Value: old}); err != nil {
		t.Fatal(err)
	}
	if got, _ := storedMeta(t, s, "old"); got.Head != nil || got.CurrentVersion != 1 {
		t.Fatalf("format 1 decoded as %+v", got)
	}
	if got := readData(t, b, "data/old"); got != `{"v":"1"}` {
		t.Fatalf("format 1 read: %s", got)
	}
	mustDo(t, b, put("metadata/old", `{"custom_metadata":{"owner":"ops"}}`))
	if got := readData(t, b, "data/old"); got != `{"v":"1"}` {
		t.Fatalf("read after a metadata change: %s", got)
	}
	mustDo(t, b, patch("data/old", `{"data":{"w":"2"}}`))
	if got, _ := storedMeta(t, s, "old"); string(got.Head) != `{"v":"1","w":"2"}` {
		t.Fatalf("after a write the record keeps %q", got.Head)
	}
}

// TestCopyMustMatchTheRecord: a record carrying a copy that encodeMeta
// would never write (no current version, a destroyed one, too long) is
// corrupt rather than served.
func TestCopyMustMatchTheRecord(t *testing.T) {
	for name, m := range map[string]*keyMeta{
		"no current version": {CurrentVersion: 2, Versions: map[uint64]versionMeta{1: {}}},
		"destroyed":          {CurrentVersion: 1, Versions: map[uint64]versionMeta{1: {Destroyed: true}}},
		"too long":           {CurrentVersion: 1, Versions: map[uint64]versionMeta{1: {}}},
	} {
		head := []byte(`{"a":"b"}`)
		if name == "too long" {
			head = bytes.Repeat([]byte("x"), inlineLimit+1)
		}
		raw := encodeMeta(m)
		raw[0] = metaFormat
		raw = appendString(raw, string(head))
		if _, err := decodeMeta(raw); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
