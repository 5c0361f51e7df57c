package kv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

const created = "2025-01-02T03:04:05.000000006Z"

func TestData(t *testing.T) {
	t.Parallel()
	runCases(t, dataCases())
}

func dataCases() map[string]routeCase {
	return map[string]routeCase{
		"write returns metadata": {
			req:  put("data/app/db", `{"data":{"user":"u","n":12345678901234567890}}`),
			want: `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`,
		},
		"read current": {
			setup: []step{put("data/app/db", `{"data":{"v":"1"}}`), put("data/app/db", `{"data":{"v":"2","n":12345678901234567890}}`)},
			req:   get("data/app/db"),
			want: `{"data":{"v":"2","n":12345678901234567890},"metadata":{"created_time":"` + created +
				`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}}`,
		},
		"read old version": {
			setup: []step{put("data/k", `{"data":{"v":"1"}}`), put("data/k", `{"data":{"v":"2"}}`)},
			req:   getq("data/k", `{"version":"1"}`),
			want: `{"data":{"v":"1"},"metadata":{"created_time":"` + created +
				`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}}`,
		},
		"read custom metadata": {
			setup: []step{put("metadata/k", `{"custom_metadata":{"owner":"team"}}`), put("data/k", `{"data":{"v":"1"}}`)},
			req:   get("data/k"),
			want: `{"data":{"v":"1"},"metadata":{"created_time":"` + created +
				`","custom_metadata":{"owner":"team"},"deletion_time":"","destroyed":false,"version":1}}`,
		},
		"read missing":          {req: get("data/nope"), wantNil: true},
		"read missing version":  {setup: []step{put("data/k", `{"data":{}}`)}, req: getq("data/k", `{"version":7}`), wantNil: true},
		"read bad version":      {setup: []step{put("data/k", `{"data":{}}`)}, req: getq("data/k", `{"version":"x"}`), wantErr: logical.ErrInvalidRequest},
		"read negative version": {setup: []step{put("data/k", `{"data":{}}`)}, req: getq("data/k", `{"version":-1}`), wantErr: logical.ErrInvalidRequest},
		"read metadata only":    {setup: []step{put("metadata/k", `{"max_versions":3}`)}, req: get("data/k"), wantNil: true},
		"read deleted": {
			setup:      []step{put("data/k", `{"data":{"v":"1"}}`), del("data/k")},
			req:        get("data/k"),
			wantStatus: 404,
			want: `{"data":null,"metadata":{"created_time":"` + created +
				`","custom_metadata":null,"deletion_time":"` + created + `","destroyed":false,"version":1}}`,
		},
		"read destroyed": {
			setup:      []step{put("data/k", `{"data":{"v":"1"}}`), put("destroy/k", `{"versions":[1]}`)},
			req:        get("data/k"),
			wantStatus: 404,
			want: `{"data":null,"metadata":{"created_time":"` + created +
				`","custom_metadata":null,"deletion_time":"","destroyed":true,"version":1}}`,
		},
		"write without data":  {req: put("data/k", `{"options":{}}`), wantErr: logical.ErrInvalidRequest},
		"write null data":     {req: put("data/k", `{"data":null}`), wantErr: logical.ErrInvalidRequest},
		"write data not obj":  {req: put("data/k", `{"data":"s"}`), wantErr: logical.ErrInvalidRequest},
		"write empty path":    {req: put("data/", `{"data":{}}`), wantErr: logical.ErrInvalidRequest},
		"write dotdot":        {req: put("data/a/../b", `{"data":{}}`), wantErr: logical.ErrInvalidRequest},
		"write empty segment": {req: put("data/a//b", `{"data":{}}`), wantErr: logical.ErrInvalidRequest},
		"write trailing /":    {req: put("data/a/", `{"data":{}}`), wantErr: logical.ErrInvalidRequest},
		"path from body ignored": {
			req: put("data/", `{"path":"other","data":{}}`), wantErr: logical.ErrInvalidRequest,
		},
		"cas create":          {req: put("data/k", `{"data":{},"options":{"cas":0}}`), want: `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`},
		"cas create taken":    {setup: []step{put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":0}}`), wantErr: logical.ErrCASMismatch},
		"cas update":          {setup: []step{put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":1}}`), want: `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}`},
		"cas stale":           {setup: []step{put("data/k", `{"data":{}}`), put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":1}}`), wantErr: logical.ErrCASMismatch},
		"cas bad":             {req: put("data/k", `{"data":{},"options":{"cas":"one"}}`), wantErr: logical.ErrInvalidRequest},
		"cas negative":        {req: put("data/k", `{"data":{},"options":{"cas":-1}}`), wantErr: logical.ErrCASMismatch},
		"cas negative string": {setup: []step{put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":"-1"}}`), wantErr: logical.ErrCASMismatch},
		"cas string":          {setup: []step{put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":"1"}}`), want: `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}`},
		"cas fraction":        {req: put("data/k", `{"data":{},"options":{"cas":0.5}}`), wantErr: logical.ErrInvalidRequest},
		"cas null is 0":       {setup: []step{put("data/k", `{"data":{}}`)}, req: put("data/k", `{"data":{},"options":{"cas":null}}`), wantErr: logical.ErrCASMismatch},
		"cas required by mount": {
			setup: []step{put("config", `{"cas_required":true}`)}, req: put("data/k", `{"data":{}}`), wantErr: logical.ErrInvalidRequest,
		},
		"cas required by key": {
			setup: []step{put("metadata/k", `{"cas_required":true}`)}, req: put("data/k", `{"data":{}}`), wantErr: logical.ErrInvalidRequest,
		},
		"cas required given": {
			setup: []step{put("config", `{"cas_required":true}`)}, req: put("data/k", `{"data":{},"options":{"cas":0}}`),
			want: `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`,
		},
		"delete missing": {req: del("data/nope"), wantNil: true},
		"delete twice":   {setup: []step{put("data/k", `{"data":{}}`), del("data/k")}, req: del("data/k"), wantNil: true},
		"list data":      {req: list("data/"), wantErr: logical.ErrUnsupportedOperation},
		"unknown route":  {req: get("nope/k"), wantErr: logical.ErrUnsupportedPath},
	}
}

// checkResult asserts the outcome of one request.
func checkResult(t *testing.T, resp *logical.Response, err, wantErr error, wantNil bool, wantStatus int, want string) {
	t.Helper()
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		var ue *logical.UserError
		if !errors.As(err, &ue) || ue.Msg == "" {
			t.Fatalf("err %v is not a user error with a message", err)
		}
		return
	case err != nil:
		t.Fatal(err)
	case wantNil:
		if resp != nil {
			t.Fatalf("want nil response, got %+v", resp)
		}
		return
	case resp == nil:
		t.Fatal("nil response")
	}
	if resp.Status != wantStatus {
		t.Fatalf("status %d, want %d", resp.Status, wantStatus)
	}
	if want != "" {
		wantJSON(t, resp.Data, want)
	}
}

func TestPatch(t *testing.T) {
	t.Parallel()
	base := put("data/k", `{"data":{"a":"1","b":"2","nested":{"x":"1","y":"2"},"list":[1,2]}}`)
	cases := map[string]struct {
		setup    []step
		req      step
		wantErr  error
		wantData string
	}{
		"merge": {
			setup: []step{base}, req: patch("data/k", `{"data":{"a":"new","c":"3"}}`),
			wantData: `{"a":"new","b":"2","c":"3","nested":{"x":"1","y":"2"},"list":[1,2]}`,
		},
		"null removes": {
			setup: []step{base}, req: patch("data/k", `{"data":{"b":null,"nested":{"x":null}}}`),
			wantData: `{"a":"1","nested":{"y":"2"},"list":[1,2]}`,
		},
		"replace non-object": {
			setup: []step{base}, req: patch("data/k", `{"data":{"list":{"z":"1"},"a":{"deep":null,"k":"v"}}}`),
			wantData: `{"a":{"k":"v"},"b":"2","nested":{"x":"1","y":"2"},"list":{"z":"1"}}`,
		},
		"cas ok":             {setup: []step{base}, req: patch("data/k", `{"data":{"a":"2"},"options":{"cas":1}}`), wantData: `{"a":"2","b":"2","nested":{"x":"1","y":"2"},"list":[1,2]}`},
		"cas mismatch":       {setup: []step{base}, req: patch("data/k", `{"data":{"a":"2"},"options":{"cas":3}}`), wantErr: logical.ErrCASMismatch},
		"cas before deleted": {setup: []step{base, del("data/k")}, req: patch("data/k", `{"data":{"a":"2"},"options":{"cas":3}}`), wantErr: logical.ErrCASMismatch},
		"cas required":       {setup: []step{base, put("metadata/k", `{"cas_required":true}`)}, req: patch("data/k", `{"data":{"a":"2"}}`), wantErr: logical.ErrInvalidRequest},
		"missing":            {req: patch("data/k", `{"data":{"a":"2"}}`), wantErr: logical.ErrNotFound},
		"deleted":            {setup: []step{base, del("data/k")}, req: patch("data/k", `{"data":{"a":"2"}}`), wantErr: logical.ErrNotFound},
		"destroyed":          {setup: []step{base, put("destroy/k", `{"versions":[1]}`)}, req: patch("data/k", `{"data":{"a":"2"}}`), wantErr: logical.ErrNotFound},
		"no data":            {setup: []step{base}, req: patch("data/k", `{}`), wantErr: logical.ErrInvalidRequest},
		"data not obj":       {setup: []step{base}, req: patch("data/k", `{"data":[1]}`), wantErr: logical.ErrInvalidRequest},
		"metadata only":      {setup: []step{put("metadata/k", `{}`)}, req: patch("data/k", `{"data":{"a":"2"}}`), wantErr: logical.ErrNotFound},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, tc.setup...)
			resp, err := do(t, b, tc.req)
			checkResult(t, resp, err, tc.wantErr, false, 0, "")
			if tc.wantErr != nil {
				return
			}
			if resp.Data["version"] != uint64(2) {
				t.Fatalf("patch made version %v, want 2", resp.Data["version"])
			}
			wantJSON(t, mustDo(t, b, get("data/k")).Data["data"], tc.wantData)
		})
	}
}

func TestDeleteVersionAfter(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		setup    []step
		wantTime string
	}{
		"mount":         {setup: []step{put("config", `{"delete_version_after":"1h"}`)}, wantTime: "2025-01-02T04:04:05.000000006Z"},
		"key":           {setup: []step{put("metadata/k", `{"delete_version_after":"30m"}`)}, wantTime: "2025-01-02T03:34:05.000000006Z"},
		"key overrides": {setup: []step{put("config", `{"delete_version_after":"1h"}`), put("metadata/k", `{"delete_version_after":60}`)}, wantTime: "2025-01-02T03:05:05.000000006Z"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, clock := newTestV2(t)
			mustDo(t, b, tc.setup...)
			w := mustDo(t, b, put("data/k", `{"data":{"v":"1"}}`))
			if w.Data["deletion_time"] != tc.wantTime {
				t.Fatalf("deletion_time %v, want %s", w.Data["deletion_time"], tc.wantTime)
			}
			if r := mustDo(t, b, get("data/k")); r.Status != 0 || r.Data["data"] == nil {
				t.Fatalf("fresh version unreadable: %+v", r)
			}
			clock.t = clock.t.Add(2 * time.Hour)
			if r := mustDo(t, b, get("data/k")); r.Status != 404 || r.Data["data"] != nil {
				t.Fatalf("expired version readable: %+v", r)
			}
		})
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	b, _, _ := newTestV2(t)
	mustDo(t, b, put("data/present", `{"data":{}}`), put("metadata/bare", `{}`))
	cases := map[string]struct {
		path   string
		exists bool
	}{
		"data present":     {path: "data/present", exists: true},
		"data absent":      {path: "data/absent"},
		"metadata present": {path: "metadata/present", exists: true},
		"metadata only":    {path: "data/bare", exists: true},
		"metadata absent":  {path: "metadata/absent"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ec := b.(logical.ExistenceChecker)
			found, exists, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.CreateOperation, Path: tc.path})
			if err != nil || !found || exists != tc.exists {
				t.Fatalf("found=%v exists=%v err=%v, want exists=%v", found, exists, err, tc.exists)
			}
		})
	}
}

// existsOnly is storage whose values cannot be read, only their presence:
// an existence check over it must not need a Get.
type existsOnly struct {
	*logical.InmemStorage
	gets int
}

func (s *existsOnly) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.gets++
	return s.InmemStorage.Get(ctx, key)
}

func (s *existsOnly) Exists(ctx context.Context, key string) (bool, error) {
	e, err := s.InmemStorage.Get(ctx, key)
	return e != nil, err
}

// The existence check of a KV v2 write asks storage for presence only (the
// barrier answers it without decrypting), leaving the one metadata read of
// the write to the handler, under the path's lock.
func TestExistenceCheckReadsNoValue(t *testing.T) {
	t.Parallel()
	s := &existsOnly{InmemStorage: logical.NewInmemStorage()}
	b := newV2Clock(s, time.Now)
	mustDo(t, b, put("data/present", `{"data":{}}`))
	for path, want := range map[string]bool{"data/present": true, "data/absent": false, "metadata/present": true} {
		s.gets = 0
		_, exists, err := b.ExistenceCheck(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: path})
		if err != nil || exists != want || s.gets != 0 {
			t.Fatalf("%s: exists=%v err=%v after %d Gets, want exists=%v and no Get", path, exists, err, s.gets, want)
		}
	}
}
