package system

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// applyJSON applies a tune body, as JSON, to a copy of m.
func applyJSON(t Table, path string, m MountInfo, body string) (MountInfo, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return m, err
	}
	tn, err := tuneEdits(t, path, func(n string) (any, bool) { v, ok := raw[n]; return v, ok }, false)
	if err != nil {
		return m, err
	}
	for _, edit := range tn.Edits {
		if err := edit(&m); err != nil {
			return m, err
		}
	}
	return m, nil
}

func TestTuneEdits(t *testing.T) {
	t.Parallel()
	base := MountInfo{Path: "secret/", Description: "d", DefaultLeaseTTL: time.Hour, MaxLeaseTTL: 2 * time.Hour,
		Options: map[string]string{"version": "2", "keep": "k", "drop": "x"}}
	cases := map[string]struct {
		table   Table
		path    string
		body    string
		want    func(m *MountInfo)
		wantErr bool
	}{
		"empty TTLs change nothing": {body: `{"default_lease_ttl":"","max_lease_ttl":"","force_no_cache":false,"options":null}`},
		"system TTLs":               {body: `{"default_lease_ttl":"system","max_lease_ttl":0}`, want: func(m *MountInfo) { m.DefaultLeaseTTL, m.MaxLeaseTTL = 0, 0 }},
		"TTL in seconds":            {body: `{"max_lease_ttl":90}`, want: func(m *MountInfo) { m.MaxLeaseTTL = 90 * time.Second }},
		"empty description":         {body: `{"description":""}`, want: func(m *MountInfo) { m.Description = "" }},
		"options merge":             {body: `{"options":{"new":"n","drop":""}}`, want: func(m *MountInfo) { m.Options = map[string]string{"version": "2", "keep": "k", "new": "n"} }},
		"headers canonical":         {body: `{"passthrough_request_headers":"x-a, x-b"}`, want: func(m *MountInfo) { m.PassthroughRequestHeaders = []string{"X-A", "X-B"} }},
		"audit keys on sys":         {path: "sys", body: `{"audit_non_hmac_request_keys":["a"]}`, want: func(m *MountInfo) { m.AuditNonHMACRequestKeys = []string{"a"} }},
		"TTL on sys":                {path: "sys", body: `{"max_lease_ttl":"1h"}`, wantErr: true},
		"negative TTL":              {body: `{"max_lease_ttl":-5}`, wantErr: true},
		"TTL word":                  {body: `{"max_lease_ttl":"soon"}`, wantErr: true},
		"visibility":                {body: `{"listing_visibility":"public"}`, wantErr: true},
		"list of numbers":           {body: `{"audit_non_hmac_request_keys":[1]}`, wantErr: true},
		"options not an object":     {body: `{"options":"version=1"}`, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.table == "" {
				tc.table = SecretsTable
			}
			if tc.path == "" {
				tc.path = "secret"
			}
			got, err := applyJSON(tc.table, tc.path, base, tc.body)
			if tc.wantErr {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("err = %v, want a 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
			if base.Options["drop"] != "x" {
				t.Fatal("an edit changed the live entry's options")
			}
		})
	}
}

// FuzzTuneEdits: whatever a tune body holds, an accepted one leaves the
// mount with clean settings and no token header passed on.
func FuzzTuneEdits(f *testing.F) {
	for _, s := range []string{
		`{"default_lease_ttl":"1h","max_lease_ttl":"system"}`, `{"passthrough_request_headers":["x-a","X-Vault-Token"]}`,
		`{"listing_visibility":"unauth"}`, `{"options":{"version":"2","x":""}}`, `{"audit_non_hmac_response_keys":" a, ,b "}`,
		`{"description":5}`, `{"max_lease_ttl":1e99}`, `{"allowed_response_headers":"authorization"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := applyJSON(SecretsTable, "secret", MountInfo{Path: "secret/"}, body)
		if err != nil {
			return
		}
		if m.DefaultLeaseTTL < 0 || m.MaxLeaseTTL < 0 || !slices.Contains([]string{"", ListingUnauth, ListingHidden}, m.ListingVisibility) {
			t.Fatalf("%s accepted as %+v", body, m)
		}
		for _, l := range [][]string{m.AuditNonHMACRequestKeys, m.AuditNonHMACResponseKeys, m.PassthroughRequestHeaders, m.AllowedResponseHeaders} {
			for _, v := range l {
				if v == "" || strings.TrimSpace(v) != v {
					t.Fatalf("%s accepted the element %q", body, v)
				}
			}
		}
		for _, h := range m.PassthroughRequestHeaders {
			if h != http.CanonicalHeaderKey(h) || slices.Contains(tokenHeaders, h) {
				t.Fatalf("%s passes on %q", body, h)
			}
		}
	})
}
