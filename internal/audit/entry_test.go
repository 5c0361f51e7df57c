package audit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// TestFormatterOptions checks the entry shape and what each option changes.
func TestFormatterOptions(t *testing.T) {
	t.Parallel()
	salt := NewSalt(testKey)
	in := &Input{
		Request: &logical.Request{ID: "r1", Operation: logical.ListOperation, Path: "secret/metadata/", ClientToken: "s.root",
			RemoteAddr: "10.0.0.1:4242", Data: map[string]any{"pw": "hunter2"}},
		Auth:     &logical.Auth{ClientToken: "s.root", Accessor: "acc1", Policies: []string{"root"}, DisplayName: "root", TokenType: "service"},
		TokenTTL: time.Hour, MountType: "kv", MountPoint: "secret/",
		Response: &logical.Response{Data: map[string]any{"keys": []string{"a", "b"}},
			WrapInfo: &logical.WrapInfo{Token: "s.wrap", Accessor: "wacc", TTL: time.Minute}},
		Err: errors.New("boom"),
	}
	cases := map[string]struct {
		opts  options
		check func(t *testing.T, line string, e map[string]any)
	}{
		"defaults": {options{}, func(t *testing.T, line string, e map[string]any) {
			for _, clear := range []string{"s.root", "acc1", "hunter2", "s.wrap", `"a"`} {
				if strings.Contains(line, clear) {
					t.Errorf("%s in the clear", clear)
				}
			}
			req := e["request"].(map[string]any)
			if req["client_token"] != salt.Hash("s.root") || req["remote_address"] != "10.0.0.1" || req["remote_port"] != 4242.0 ||
				req["mount_type"] != "kv" || req["namespace"].(map[string]any)["id"] != "root" || e["error"] != "boom" {
				t.Errorf("request: %v", e)
			}
			if a := e["auth"].(map[string]any); a["accessor"] != salt.Hash("acc1") || a["token_ttl"] != 3600.0 || a["display_name"] != "root" {
				t.Errorf("auth: %v", a)
			}
		}},
		"hmac_accessor=false": {options{"hmac_accessor": "false"}, func(t *testing.T, line string, e map[string]any) {
			if e["auth"].(map[string]any)["accessor"] != "acc1" || strings.Contains(line, `"s.root"`) {
				t.Errorf("%s", line)
			}
		}},
		"log_raw": {options{"log_raw": "true"}, func(t *testing.T, line string, e map[string]any) {
			if !strings.Contains(line, "hunter2") || !strings.Contains(line, `"client_token":"s.root"`) {
				t.Errorf("%s", line)
			}
		}},
		"elide_list_responses": {options{"elide_list_responses": "true"}, func(t *testing.T, line string, e map[string]any) {
			if e["response"].(map[string]any)["data"].(map[string]any)["keys"] != 2.0 {
				t.Errorf("%s", line)
			}
		}},
		"prefix": {options{"prefix": "AUDIT "}, func(t *testing.T, line string, e map[string]any) {
			if !strings.HasPrefix(line, "AUDIT {") {
				t.Errorf("%s", line)
			}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f, err := newFormatter(tc.opts, salt)
			if err != nil {
				t.Fatal(err)
			}
			b := f.appendResponse(nil, in, nil, time.Now())
			var e map[string]any
			if err := json.Unmarshal(b[strings.IndexByte(string(b), '{'):], &e); err != nil || e["type"] != "response" {
				t.Fatalf("%v %s", err, b)
			}
			tc.check(t, string(b), e)
		})
	}
	if err := checkOptions("file", map[string]string{"format": "jsonx"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("jsonx: %v", err)
	}
}

// BenchmarkFormatKVRead formats the two lines of a KV v2 read, as one
// device writes them.
func BenchmarkFormatKVRead(b *testing.B) {
	f, err := newFormatter(options{}, NewSalt(testKey))
	if err != nil {
		b.Fatal(err)
	}
	in := &Input{
		Request: &logical.Request{ID: "7b1f7f8e-2b7e-4f0c-9a0e-3d2c1b0a9f8e", Operation: logical.ReadOperation, Path: "secret/data/bench/key-1",
			ClientToken: "hvs.CAESIJ0123456789abcdefghijklmnopqrstuv", RemoteAddr: "127.0.0.1:50000"},
		Auth: &logical.Auth{ClientToken: "hvs.CAESIJ0123456789abcdefghijklmnopqrstuv", Accessor: "0123456789abcdefghijklmn",
			Policies: []string{"root"}, TokenPolicies: []string{"root"}, DisplayName: "root", TokenType: "service"},
		MountPoint: "secret/", MountType: "kv", MountAccessor: "kv_1234abcd",
		Response: &logical.Response{Data: map[string]any{
			"data": map[string]any{"value": "0123456789abcdef0123456789abcdef"},
			"metadata": map[string]any{"created_time": "2026-12-01T20:00:00.123456789Z", "custom_metadata": nil,
				"deletion_time": "", "destroyed": false, "version": 1},
		}},
	}
	now := time.Now()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = f.appendRequest(buf[:0], in, nil, now)
		buf = f.appendResponse(buf[:0], in, nil, now)
	}
}
