package kv

import (
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestSubkeys(t *testing.T) {
	t.Parallel()
	base := []step{
		put("data/k", `{"data":{"v":"1"}}`),
		put("data/k", `{"data":{"foo":"abc","bar":{"baz":"def","deeper":{"x":1}},"empty":{},"list":[1,2]}}`),
	}
	meta := func(v int, deleted string) string {
		return `{"created_time":"` + created + `","custom_metadata":null,"deletion_time":"` + deleted +
			`","destroyed":false,"version":` + string(rune('0'+v)) + `}`
	}
	cases := map[string]struct {
		setup      []step
		req        step
		wantErr    error
		wantNil    bool
		wantStatus int
		want       string
	}{
		"current": {
			req:  get("subkeys/k"),
			want: `{"subkeys":{"foo":null,"bar":{"baz":null,"deeper":{"x":null}},"empty":null,"list":null},"metadata":` + meta(2, "") + `}`,
		},
		"depth 1": {
			req:  getq("subkeys/k", `{"depth":"1"}`),
			want: `{"subkeys":{"foo":null,"bar":null,"empty":null,"list":null},"metadata":` + meta(2, "") + `}`,
		},
		"depth 2": {
			req:  getq("subkeys/k", `{"depth":2}`),
			want: `{"subkeys":{"foo":null,"bar":{"baz":null,"deeper":null},"empty":null,"list":null},"metadata":` + meta(2, "") + `}`,
		},
		"old version": {req: getq("subkeys/k", `{"version":1}`), want: `{"subkeys":{"v":null},"metadata":` + meta(1, "") + `}`},
		"deleted": {
			setup: []step{del("data/k")}, req: get("subkeys/k"), wantStatus: 404,
			want: `{"subkeys":null,"metadata":` + meta(2, created) + `}`,
		},
		"missing":        {req: get("subkeys/nope"), wantNil: true},
		"negative depth": {req: getq("subkeys/k", `{"depth":-1}`), wantErr: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, append(base, tc.setup...)...)
			resp, err := do(t, b, tc.req)
			checkResult(t, resp, err, tc.wantErr, tc.wantNil, tc.wantStatus, tc.want)
		})
	}
}
