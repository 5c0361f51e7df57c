package kv

import (
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestDeleteUndeleteDestroy(t *testing.T) {
	t.Parallel()
	three := []step{put("data/k", `{"data":{"v":"1"}}`), put("data/k", `{"data":{"v":"2"}}`), put("data/k", `{"data":{"v":"3"}}`)}
	type state struct {
		live, deleted, destroyed bool
	}
	L, D, X := state{live: true}, state{deleted: true}, state{destroyed: true}
	cases := map[string]struct {
		steps   []step
		req     step
		wantErr error
		want    [3]state // versions 1..3 afterwards
	}{
		"delete latest":          {req: del("data/k"), want: [3]state{L, L, D}},
		"delete versions":        {req: put("delete/k", `{"versions":[1,3]}`), want: [3]state{D, L, D}},
		"delete as string list":  {req: put("delete/k", `{"versions":"1,2"}`), want: [3]state{D, D, L}},
		"delete unknown ignored": {req: put("delete/k", `{"versions":[2,99]}`), want: [3]state{L, D, L}},
		"undelete":               {steps: []step{put("delete/k", `{"versions":[1,2]}`)}, req: put("undelete/k", `{"versions":[2]}`), want: [3]state{D, L, L}},
		"undelete latest":        {steps: []step{del("data/k")}, req: put("undelete/k", `{"versions":[3]}`), want: [3]state{L, L, L}},
		"destroy":                {req: put("destroy/k", `{"versions":[2]}`), want: [3]state{L, X, L}},
		"destroy deleted":        {steps: []step{put("delete/k", `{"versions":[1]}`)}, req: put("destroy/k", `{"versions":[1]}`), want: [3]state{{deleted: true, destroyed: true}, L, L}},
		"undelete destroyed":     {steps: []step{put("destroy/k", `{"versions":[2]}`)}, req: put("undelete/k", `{"versions":[2]}`), want: [3]state{L, X, L}},
		"delete destroyed":       {steps: []step{put("destroy/k", `{"versions":[3]}`)}, req: put("delete/k", `{"versions":[3]}`), want: [3]state{L, L, X}},
		"no versions":            {req: put("delete/k", `{}`), wantErr: logical.ErrInvalidRequest},
		"empty versions":         {req: put("destroy/k", `{"versions":[]}`), wantErr: logical.ErrInvalidRequest},
		"bad version":            {req: put("undelete/k", `{"versions":["x"]}`), wantErr: logical.ErrInvalidRequest},
		"zero version":           {req: put("delete/k", `{"versions":[0]}`), wantErr: logical.ErrInvalidRequest},
		"empty path":             {req: put("destroy/", `{"versions":[1]}`), wantErr: logical.ErrInvalidRequest},
		"read not allowed":       {req: get("destroy/k"), wantErr: logical.ErrUnsupportedOperation},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, append(three, tc.steps...)...)
			resp, err := do(t, b, tc.req)
			if tc.wantErr != nil {
				checkResult(t, resp, err, tc.wantErr, false, 0, "")
				return
			}
			if err != nil || resp != nil {
				t.Fatalf("resp %+v err %v, want nil, nil", resp, err)
			}
			versions := mustDo(t, b, get("metadata/k")).Data["versions"].(map[string]any)
			for i, w := range tc.want {
				n := i + 1
				r, err := do(t, b, getq("data/k", `{"version":`+string(rune('0'+n))+`}`))
				if err != nil {
					t.Fatal(err)
				}
				vm := versions[string(rune('0'+n))].(map[string]any)
				gotDeleted := vm["deletion_time"] != ""
				if vm["destroyed"] != w.destroyed || gotDeleted != w.deleted {
					t.Fatalf("version %d metadata %v, want %+v", n, vm, w)
				}
				if live := r.Status == 0 && r.Data["data"] != nil; live != w.live {
					t.Fatalf("version %d readable=%v, want %v", n, live, w.live)
				}
			}
		})
	}
}

func TestDestroyRemovesData(t *testing.T) {
	t.Parallel()
	b, s, _ := newTestV2(t)
	mustDo(t, b, put("data/k", `{"data":{"v":"1"}}`), put("destroy/k", `{"versions":[1]}`))
	e, err := s.Get(t.Context(), versionKey(hashPath("k"), 1))
	if err != nil || e != nil {
		t.Fatalf("destroyed version still stored: %v %v", e, err)
	}
}
