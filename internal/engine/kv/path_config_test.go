package kv

import (
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		setup   []step
		req     step
		wantErr error
		want    string
	}{
		"defaults": {req: get("config"), want: `{"max_versions":0,"cas_required":false,"delete_version_after":"0s"}`},
		"write": {
			setup: []step{put("config", `{"max_versions":5,"cas_required":true,"delete_version_after":"3h25m19s"}`)},
			req:   get("config"), want: `{"max_versions":5,"cas_required":true,"delete_version_after":"3h25m19s"}`,
		},
		"partial write keeps others": {
			setup: []step{put("config", `{"max_versions":5,"cas_required":true}`), put("config", `{"cas_required":false}`)},
			req:   get("config"), want: `{"max_versions":5,"cas_required":false,"delete_version_after":"0s"}`,
		},
		"negative max":   {req: put("config", `{"max_versions":-2}`), wantErr: logical.ErrInvalidRequest},
		"bad bool":       {req: put("config", `{"cas_required":"maybe"}`), wantErr: logical.ErrInvalidRequest},
		"bad duration":   {req: put("config", `{"delete_version_after":"forever"}`), wantErr: logical.ErrInvalidRequest},
		"delete refused": {req: del("config"), wantErr: logical.ErrUnsupportedOperation},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _, _ := newTestV2(t)
			mustDo(t, b, tc.setup...)
			resp, err := do(t, b, tc.req)
			checkResult(t, resp, err, tc.wantErr, false, 0, tc.want)
		})
	}
}
