package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/openbao/openbao/api/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestPprofNeedsSudo: sys/pprof/* answers only a token with sudo there; a
// policy granting read alone gets 403, as in Vault.
func TestPprofNeedsSudo(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().PutPolicy("reader", `path "sys/pprof/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := s.as(t, tok.Auth.ClientToken)
	for _, p := range []string{"heap", "goroutine", "profile?seconds=1"} {
		if _, status := pprofGet(t, reader, p); status != http.StatusForbidden {
			t.Fatalf("%s without sudo: status %d, want 403", p, status)
		}
	}
	if _, status := pprofGet(t, s.as(t, ""), "heap"); status != http.StatusForbidden {
		t.Fatalf("heap without a token: status %d, want 403", status)
	}
}

// TestPprofProfilesParse: with sudo (root), the CPU profile and the heap
// profile come back in pprof's format (gzipped protobuf) with the sample
// types go tool pprof expects; bad arguments are a 400.
func TestPprofProfilesParse(t *testing.T) {
	t.Parallel()
	s := start(t)
	cases := map[string]struct {
		path string
		want []string
	}{
		"cpu":    {"profile?seconds=1", []string{"samples", "cpu", "nanoseconds"}},
		"heap":   {"heap", []string{"inuse_space", "alloc_objects"}},
		"allocs": {"allocs", []string{"alloc_space"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body, status := pprofGet(t, s.client, tc.path)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			strs := profileStrings(t, body)
			for _, w := range tc.want {
				if !slices.Contains(strs, w) {
					t.Fatalf("profile's string table lacks %q: %q", w, strs)
				}
			}
		})
	}
	for _, bad := range []string{"profile?seconds=0", "profile?seconds=301", "heap?debug=3"} {
		if body, status := pprofGet(t, s.client, bad); status != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400: %s", bad, status, body)
		}
	}
	if body, status := pprofGet(t, s.client, "goroutine?debug=1"); status != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile:")) {
		t.Fatalf("goroutine text: status %d: %.200s", status, body)
	}
}

func pprofGet(t *testing.T, c *api.Client, path string) ([]byte, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.Address()+"/v1/sys/pprof/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Token(); tok != "" {
		req.Header.Set("X-Vault-Token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp.StatusCode
}

// profileStrings decodes a pprof profile (gzipped perftools.profiles.Profile)
// far enough to return its string table (field 6), failing the test on any
// malformed field.
func profileStrings(t *testing.T, body []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var strs []string
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		raw = raw[n:]
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(m))
		}
		if num == 6 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(raw)
			strs = append(strs, string(v))
		}
		raw = raw[m:]
	}
	if len(strs) == 0 {
		t.Fatal("profile has no string table")
	}
	return strs
}
