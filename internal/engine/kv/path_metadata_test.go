package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestMetadata(t *testing.T) {
	t.Parallel()
	runCases(t, metadataCases())
}

func metadataCases() map[string]routeCase {
	manyKeys := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"k%d":"v"`, i)
		}
		return `{"custom_metadata":{` + strings.Join(parts, ",") + `}}`
	}
	two := []step{put("data/k", `{"data":{"v":"1"}}`), put("data/k", `{"data":{"v":"2"}}`)}
	return map[string]routeCase{
		"read": {
			setup: two, req: get("metadata/k"),
			want: `{"cas_required":false,"created_time":"` + created + `","current_version":2,"custom_metadata":null,` +
				`"delete_version_after":"0s","max_versions":0,"oldest_version":0,"updated_time":"` + created + `",` +
				`"versions":{"1":{"created_time":"` + created + `","deletion_time":"","destroyed":false},` +
				`"2":{"created_time":"` + created + `","deletion_time":"","destroyed":false}}}`,
		},
		"read missing": {req: get("metadata/nope"), wantNil: true},
		"write then read": {
			setup: []step{put("metadata/k", `{"max_versions":5,"cas_required":true,"delete_version_after":"1h30m","custom_metadata":{"owner":"ops"}}`)},
			req:   get("metadata/k"),
			want: `{"cas_required":true,"created_time":"` + created + `","current_version":0,"custom_metadata":{"owner":"ops"},` +
				`"delete_version_after":"1h30m0s","max_versions":5,"oldest_version":0,"updated_time":"` + created + `","versions":{}}`,
		},
		"put keeps unset fields, replaces custom": {
			setup: []step{put("metadata/k", `{"max_versions":5,"custom_metadata":{"a":"1","b":"2"}}`), put("metadata/k", `{"custom_metadata":{"c":"3"}}`)},
			req:   get("metadata/k"),
			want: `{"cas_required":false,"created_time":"` + created + `","current_version":0,"custom_metadata":{"c":"3"},` +
				`"delete_version_after":"0s","max_versions":5,"oldest_version":0,"updated_time":"` + created + `","versions":{}}`,
		},
		"patch merges custom": {
			setup: []step{put("metadata/k", `{"custom_metadata":{"a":"1","b":"2"}}`), patch("metadata/k", `{"max_versions":2,"custom_metadata":{"a":null,"c":"3"}}`)},
			req:   get("metadata/k"),
			want: `{"cas_required":false,"created_time":"` + created + `","current_version":0,"custom_metadata":{"b":"2","c":"3"},` +
				`"delete_version_after":"0s","max_versions":2,"oldest_version":0,"updated_time":"` + created + `","versions":{}}`,
		},
		"patch missing":           {req: patch("metadata/k", `{"max_versions":2}`), wantErr: logical.ErrNotFound},
		"put null custom value":   {req: put("metadata/k", `{"custom_metadata":{"a":null}}`), wantErr: logical.ErrInvalidRequest},
		"custom not string":       {req: put("metadata/k", `{"custom_metadata":{"a":1}}`), wantErr: logical.ErrInvalidRequest},
		"custom not object":       {req: put("metadata/k", `{"custom_metadata":"a=b"}`), wantErr: logical.ErrInvalidRequest},
		"custom 64 keys":          {req: put("metadata/k", manyKeys(64)), wantNil: true},
		"custom 65 keys":          {req: put("metadata/k", manyKeys(65)), wantErr: logical.ErrInvalidRequest},
		"custom 65 keys by patch": {setup: []step{put("metadata/k", manyKeys(64))}, req: patch("metadata/k", `{"custom_metadata":{"extra":"v"}}`), wantErr: logical.ErrInvalidRequest},
		"custom key 128":          {req: put("metadata/k", `{"custom_metadata":{"`+strings.Repeat("k", 128)+`":"v"}}`), wantNil: true},
		"custom key 129":          {req: put("metadata/k", `{"custom_metadata":{"`+strings.Repeat("k", 129)+`":"v"}}`), wantErr: logical.ErrInvalidRequest},
		"custom value 512":        {req: put("metadata/k", `{"custom_metadata":{"k":"`+strings.Repeat("v", 512)+`"}}`), wantNil: true},
		"custom value 513":        {req: put("metadata/k", `{"custom_metadata":{"k":"`+strings.Repeat("v", 513)+`"}}`), wantErr: logical.ErrInvalidRequest},
		"negative max_versions":   {req: put("metadata/k", `{"max_versions":-1}`), wantErr: logical.ErrInvalidRequest},
		"bad duration":            {req: put("metadata/k", `{"delete_version_after":"soon"}`), wantErr: logical.ErrInvalidRequest},
		"empty path":              {req: get("metadata/"), wantErr: logical.ErrInvalidRequest},
		"dotdot path":             {req: put("metadata/a/..", `{}`), wantErr: logical.ErrInvalidRequest},
		"delete removes all": {
			setup: append(two, del("metadata/k")), req: get("data/k"), wantNil: true,
		},
		"delete removes metadata": {
			setup: append(two, del("metadata/k")), req: get("metadata/k"), wantNil: true,
		},
		"delete missing": {req: del("metadata/k"), wantNil: true},
		"recreate after delete": {
			setup: append(two, del("metadata/k"), put("data/k", `{"data":{"v":"new"}}`)), req: get("data/k"),
			want: `{"data":{"v":"new"},"metadata":{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}}`,
		},
	}
}

func TestMetadataDeleteLeavesNoStorage(t *testing.T) {
	t.Parallel()
	b, s, _ := newTestV2(t)
	mustDo(t, b, put("data/a/k", `{"data":{"v":"1"}}`), put("data/a/k", `{"data":{"v":"2"}}`),
		put("destroy/a/k", `{"versions":[1]}`), del("metadata/a/k"))
	keys, err := logical.CollectKeys(t.Context(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("storage still holds %v", keys)
	}
}

func TestMaxVersions(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		setup      []step
		writes     int
		wantOldest uint64
		wantKept   []string
	}{
		"default 10":       {writes: 12, wantOldest: 3, wantKept: []string{"3", "12"}},
		"under default":    {writes: 10, wantOldest: 0, wantKept: []string{"1", "10"}},
		"mount setting":    {setup: []step{put("config", `{"max_versions":3}`)}, writes: 5, wantOldest: 3, wantKept: []string{"3", "4", "5"}},
		"key setting wins": {setup: []step{put("config", `{"max_versions":3}`), put("metadata/k", `{"max_versions":2}`)}, writes: 5, wantOldest: 4, wantKept: []string{"4", "5"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, s, _ := newTestV2(t)
			mustDo(t, b, tc.setup...)
			for i := range tc.writes {
				mustDo(t, b, put("data/k", fmt.Sprintf(`{"data":{"i":%d}}`, i+1)))
			}
			m := mustDo(t, b, get("metadata/k")).Data
			if m["oldest_version"] != tc.wantOldest {
				t.Fatalf("oldest_version %v, want %d", m["oldest_version"], tc.wantOldest)
			}
			versions := m["versions"].(map[string]any)
			for _, v := range tc.wantKept {
				if _, ok := versions[v]; !ok {
					t.Fatalf("version %s pruned; kept %v", v, versions)
				}
			}
			oldest := fmt.Sprint(tc.wantOldest - 1)
			if _, ok := versions[oldest]; ok && tc.wantOldest > 0 {
				t.Fatalf("version %s kept", oldest)
			}
			if r, err := do(t, b, getq("data/k", `{"version":1}`)); tc.wantOldest > 1 && (err != nil || r != nil) {
				t.Fatalf("pruned version 1 readable: %+v %v", r, err)
			}
			keys, _ := logical.CollectKeys(t.Context(), s, versionsPrefix)
			if len(keys) != len(versions) {
				t.Fatalf("%d version entries in storage, %d in metadata", len(keys), len(versions))
			}
		})
	}
}

// TestMaxVersionsLoweredPrunesOnNextWrite: as in Vault, lowering
// max_versions keeps every version until the next data write prunes.
func TestMaxVersionsLoweredPrunesOnNextWrite(t *testing.T) {
	t.Parallel()
	b, _, _ := newTestV2(t)
	for range 5 {
		mustDo(t, b, put("data/k", `{"data":{}}`))
	}
	mustDo(t, b, put("metadata/k", `{"max_versions":2}`))
	if m := mustDo(t, b, get("metadata/k")).Data; len(m["versions"].(map[string]any)) != 5 {
		t.Fatalf("lowering max_versions pruned at once: %v", m)
	}
	mustDo(t, b, put("data/k", `{"data":{}}`))
	m := mustDo(t, b, get("metadata/k")).Data
	if len(m["versions"].(map[string]any)) != 2 || m["oldest_version"] != uint64(5) {
		t.Fatalf("after the next write: %v", m)
	}
}

func TestDeleteVersionAfterShorterWins(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		mount, key string
		want       time.Duration
	}{
		"key shorter":   {"10h", "1h", time.Hour},
		"mount shorter": {"1h", "10h", time.Hour},
		"only key":      {"0s", "2h", 2 * time.Hour},
		"only mount":    {"3h", "0s", 3 * time.Hour},
		"neither":       {"0s", "0s", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, clock := newTestV2(t)
			mustDo(t, b, put("config", `{"delete_version_after":"`+tc.mount+`"}`))
			mustDo(t, b, put("metadata/k", `{"delete_version_after":"`+tc.key+`"}`))
			w := mustDo(t, b, put("data/k", `{"data":{}}`))
			want := ""
			if tc.want > 0 {
				want = clock.t.Add(tc.want).UTC().Format(time.RFC3339Nano)
			}
			if w.Data["deletion_time"] != want {
				t.Fatalf("deletion_time %v, want %q", w.Data["deletion_time"], want)
			}
		})
	}
}

func TestListMetadata(t *testing.T) {
	t.Parallel()
	b, _, _ := newTestV2(t)
	mustDo(t, b, put("data/app/db", `{"data":{}}`), put("data/app/cache", `{"data":{}}`),
		put("data/app/deep/x", `{"data":{}}`), put("data/top", `{"data":{}}`), put("metadata/bare", `{}`))
	cases := map[string]struct {
		path    string
		want    string
		wantNil bool
		wantErr error
	}{
		"root no slash":  {path: "metadata", want: `{"keys":["app/","bare","top"]}`},
		"root slash":     {path: "metadata/", want: `{"keys":["app/","bare","top"]}`},
		"folder":         {path: "metadata/app/", want: `{"keys":["cache","db","deep/"]}`},
		"folder no /":    {path: "metadata/app", want: `{"keys":["cache","db","deep/"]}`},
		"nested":         {path: "metadata/app/deep/", want: `{"keys":["x"]}`},
		"empty folder":   {path: "metadata/nothing/", wantNil: true},
		"leaf as folder": {path: "metadata/top/", wantNil: true},
		"dotdot":         {path: "metadata/app/../", wantErr: logical.ErrInvalidRequest},
		"double slash":   {path: "metadata/app//", wantErr: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := do(t, b, list(tc.path))
			checkResult(t, resp, err, tc.wantErr, tc.wantNil, 0, tc.want)
		})
	}
}

func TestOverlongPathIsA400(t *testing.T) {
	t.Parallel()
	b, _, _ := newTestV2(t)
	long := strings.Repeat("a", maxPathLen+1)
	for _, st := range []step{put("data/"+long, `{"data":{}}`), get("metadata/" + long)} {
		if _, err := do(t, b, st); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%s: err = %v", st.path[:12], err)
		}
	}
}

// TestMetadataCASRequiredWarning: like Vault, a metadata write that sets
// cas_required to false on a mount requiring check-and-set is stored but
// warned about; other writes carry no warning.
func TestMetadataCASRequiredWarning(t *testing.T) {
	t.Parallel()
	mountRequires := put("config", `{"cas_required":true}`)
	cases := map[string]struct {
		setup    []step
		req      step
		wantWarn bool
	}{
		"false on requiring mount":       {setup: []step{mountRequires}, req: put("metadata/k", `{"cas_required":false}`), wantWarn: true},
		"false by patch on requiring":    {setup: []step{mountRequires, put("metadata/k", `{}`)}, req: patch("metadata/k", `{"cas_required":false}`), wantWarn: true},
		"true on requiring mount":        {setup: []step{mountRequires}, req: put("metadata/k", `{"cas_required":true}`)},
		"unset on requiring mount":       {setup: []step{mountRequires}, req: put("metadata/k", `{"max_versions":3}`)},
		"false on mount not requiring":   {req: put("metadata/k", `{"cas_required":false}`)},
		"string false on requiring (ok)": {setup: []step{mountRequires}, req: put("metadata/k", `{"cas_required":"False"}`), wantWarn: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, tc.setup...)
			resp := mustDo(t, b, tc.req)
			warned := resp != nil && len(resp.Warnings) == 1 && strings.Contains(resp.Warnings[0], "cas_required")
			if warned != tc.wantWarn {
				t.Fatalf("response %+v, want a warning: %v", resp, tc.wantWarn)
			}
			meta := mustDo(t, b, get("metadata/k"))
			if meta.Data["cas_required"] != strings.Contains(tc.req.body, "true") {
				t.Fatalf("cas_required stored as %v", meta.Data["cas_required"])
			}
		})
	}
}
