package kv

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// FuzzCheckPath checks that path validation never panics and that every
// accepted path is one a person could have meant.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "a//b", "../x", "a/./b", "a/", "/a", "a/b/", "ü/日本"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, folder bool) {
		err := checkPath(p, folder)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		if folder {
			p = strings.TrimSuffix(p, "/")
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

// FuzzMergePatch checks RFC 7396 properties on arbitrary JSON objects: the
// target is not modified, patching with {} changes nothing, and every
// non-null, non-object value of the patch is in the result.
func FuzzMergePatch(f *testing.F) {
	f.Add(`{"a":"1","b":{"c":"2"}}`, `{"a":null,"b":{"d":"3"}}`)
	f.Add(`{}`, `{"x":{"y":{"z":null}}}`)
	f.Add(`{"a":[1,2]}`, `{"a":{"b":1}}`)
	f.Fuzz(func(t *testing.T, target, patch string) {
		var tm, pm map[string]any
		if json.Unmarshal([]byte(target), &tm) != nil || json.Unmarshal([]byte(patch), &pm) != nil || tm == nil || pm == nil {
			return
		}
		before, _ := json.Marshal(tm)
		out := mergePatch(tm, pm)
		after, _ := json.Marshal(tm)
		if string(before) != string(after) {
			t.Fatal("target modified")
		}
		if !reflect.DeepEqual(mergePatch(tm, map[string]any{}), tm) {
			t.Fatal("empty patch changed the target")
		}
		for k, v := range pm {
			switch v.(type) {
			case nil:
				if _, ok := out[k]; ok {
					t.Fatalf("null did not remove %q", k)
				}
			case map[string]any:
			default:
				if !reflect.DeepEqual(out[k], v) {
					t.Fatalf("%q = %v, want %v", k, out[k], v)
				}
			}
		}
	})
}

// FuzzWriteBody sends arbitrary JSON bodies to a data write and checks that
// the engine answers with a value or a 400-class error, never a panic or an
// internal error.
func FuzzWriteBody(f *testing.F) {
	for _, s := range []string{`{"data":{}}`, `{"data":1}`, `{"data":{"a":null},"options":{"cas":"x"}}`, `{"options":{"cas":-1}}`, `{"data":{"a":[{}]},"options":{"cas":1e3}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var data map[string]any
		if json.Unmarshal([]byte(body), &data) != nil {
			return
		}
		b, _, _ := newTestV2(t)
		_, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: "data/k", Data: data})
		var ue *logical.UserError
		if err != nil && !errors.As(err, &ue) {
			t.Fatalf("internal error for %s: %v", body, err)
		}
	})
}

// FuzzDecodeMeta checks that decoding stored metadata never panics or
// over-allocates on corrupt input, that whatever decodes survives an
// encode/decode round trip unchanged, and that the one-version decode of a
// read agrees with the full one (same error, same head, same version).
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(newMeta(1)))
	f.Add(encodeMeta(&keyMeta{
		CurrentVersion: 3, OldestVersion: 2, MaxVersions: 5, CASRequired: true, DeleteVersionAfter: time.Hour,
		CustomMetadata: map[string]string{"owner": "ops", "": "x"}, CreatedTime: -5, UpdatedTime: 1 << 60,
		Versions: map[uint64]versionMeta{2: {CreatedTime: 7}, 3: {CreatedTime: 8, DeletionTime: 9, Destroyed: true}},
	}))
	f.Add(encodeMeta(&keyMeta{CurrentVersion: 4, Versions: map[uint64]versionMeta{4: {CreatedTime: 1}}, Head: []byte(`{"a":"b"}`)}))
	f.Add(append([]byte{metaFormat}, append(encodeMeta(newMeta(1))[1:], 0)...))
	f.Add([]byte{metaFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeMeta(raw)
		checkOneVersion(t, raw, m, err)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("error %v is not ErrCorruptEntry", err)
			}
			return
		}
		if again := mustDecode(t, encodeMeta(m)); !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed %+v to %+v", m, again)
		}
	})
}

func mustDecode(t *testing.T, raw []byte) *keyMeta {
	t.Helper()
	m, err := decodeMeta(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkOneVersion compares decodeMetaInto without the version map, for
// the current version and for version 2, with the full decode m (err).
func checkOneVersion(t *testing.T, raw []byte, m *keyMeta, err error) {
	t.Helper()
	for _, want := range []uint64{0, 2} {
		var head keyMeta
		vm, ok, err1 := decodeMetaInto(&head, raw, want, false)
		if (err == nil) != (err1 == nil) {
			t.Fatalf("full decode: %v, one version: %v", err, err1)
		}
		if err != nil {
			continue
		}
		if head.Versions != nil {
			t.Fatal("one-version decode built the version map")
		}
		if want == 0 {
			want = m.CurrentVersion
		}
		full, fullOK := m.Versions[want]
		head.Versions = m.Versions
		if !reflect.DeepEqual(&head, m) || ok != fullOK || vm != full {
			t.Fatalf("version %d: one-version decode %+v %v %v, full %+v %v %v", want, head, vm, ok, m, full, fullOK)
		}
	}
}

// FuzzVersionJSON checks that the metadata object a data read appends by
// hand is byte for byte what encoding/json makes of versionResponse's map,
// whatever the custom metadata (HTML characters, U+2028, invalid UTF-8,
// control characters) and the times.
func FuzzVersionJSON(f *testing.F) {
	f.Add(uint64(1), int64(1735787045000000006), int64(0), false, "", "")
	f.Add(uint64(7), int64(1), int64(-1), true, "owner", "<team & \"ops\">")
	f.Add(uint64(1<<63), int64(-62135596800000000), int64(1<<62), false, "\u2028k", "v\x00\xff\u2029")
	f.Fuzz(func(t *testing.T, v uint64, created, deleted int64, destroyed bool, k, val string) {
		m := &keyMeta{}
		if k != "" || val != "" {
			m.CustomMetadata = map[string]string{k: val, "z": k}
		}
		vm := versionMeta{CreatedTime: created, DeletionTime: deleted, Destroyed: destroyed}
		want, err := json.Marshal(m.versionResponse(v, vm))
		if err != nil {
			t.Fatal(err)
		}
		got := m.versionJSON(v, vm)
		if string(got) != string(want) {
			t.Fatalf("versionJSON\n got %s\nwant %s", got, want)
		}
		// As the HTTP layer copies it: encoding/json accepts it unchanged.
		if out, err := json.Marshal(got); err != nil || string(out) != string(want) {
			t.Fatalf("json.Marshal of it: %s, %v", out, err)
		}
	})
}
