package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// casMismatch is KV v2's answer to a check-and-set that does not match, in
// Vault's words.
const casMismatch = "check-and-set parameter did not match the current version"

// TestKVCheckAndSet: a check-and-set mismatch is a 400 with Vault's
// message, whether the cas is stale, 0 on an existing secret, or negative;
// a missing cas where one is required is a 400 too; a cas that is not a
// number is a 400 that says it could not be parsed.
func TestKVCheckAndSet(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	kv := s.client.KVv2("secret")
	if _, err := kv.Put(ctx, "app/db", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Logical().Write("secret/config", map[string]any{"cas_required": true}); err != nil {
		t.Fatal(err)
	}
	write := func(path string, body map[string]any) error {
		_, err := s.client.Logical().Write("secret/data/"+path, body)
		return err
	}
	patch := func(path string, body map[string]any) error {
		_, err := s.client.Logical().JSONMergePatch(ctx, "secret/data/"+path, body)
		return err
	}
	data := map[string]any{"v": "x"}
	cases := map[string]struct {
		err      error
		wantCode int
		wantMsg  string // the whole of the one error message; "" for success
		prefix   bool   // wantMsg is only the start of the message
	}{
		"stale cas":               {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": 1}}), wantCode: 400, wantMsg: casMismatch},
		"cas 0 on existing":       {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": 0}}), wantCode: 400, wantMsg: casMismatch},
		"negative cas":            {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": -1}}), wantCode: 400, wantMsg: casMismatch},
		"negative cas, new key":   {err: write("app/new", map[string]any{"data": data, "options": map[string]any{"cas": -1}}), wantCode: 400, wantMsg: casMismatch},
		"cas ahead":               {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": 7}}), wantCode: 400, wantMsg: casMismatch},
		"cas as a string":         {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": "1"}}), wantCode: 400, wantMsg: casMismatch},
		"patch, stale cas":        {err: patch("app/db", map[string]any{"data": data, "options": map[string]any{"cas": 1}}), wantCode: 400, wantMsg: casMismatch},
		"patch, negative cas":     {err: patch("app/db", map[string]any{"data": data, "options": map[string]any{"cas": -5}}), wantCode: 400, wantMsg: casMismatch},
		"cas not a number":        {err: write("app/db", map[string]any{"data": data, "options": map[string]any{"cas": "two"}}), wantCode: 400, wantMsg: "error parsing check-and-set parameter", prefix: true},
		"required, missing":       {err: write("app/db", map[string]any{"data": data}), wantCode: 400, wantMsg: "check-and-set parameter required for this call", prefix: true},
		"required, patch missing": {err: patch("app/db", map[string]any{"data": data}), wantCode: 400, wantMsg: "check-and-set parameter required for this call", prefix: true},
		"required, new key, 0":    {err: write("app/fresh", map[string]any{"data": data, "options": map[string]any{"cas": 0}})},
		"matching cas":            {err: write("app/other", map[string]any{"data": data, "options": map[string]any{"cas": 0}})},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.wantMsg == "" {
				if tc.err != nil {
					t.Fatalf("refused: %v", tc.err)
				}
				return
			}
			var re *api.ResponseError
			if !errors.As(tc.err, &re) {
				t.Fatalf("err = %v, want a %d", tc.err, tc.wantCode)
			}
			if re.StatusCode != tc.wantCode || len(re.Errors) != 1 {
				t.Fatalf("status %d, errors %q; want %d with one message", re.StatusCode, re.Errors, tc.wantCode)
			}
			if got := re.Errors[0]; got != tc.wantMsg && !(tc.prefix && strings.HasPrefix(got, tc.wantMsg)) {
				t.Fatalf("message %q, want %q", got, tc.wantMsg)
			}
		})
	}
	// Nothing was written by the refused requests.
	if got, err := kv.Get(ctx, "app/db"); err != nil || got.VersionMetadata.Version != 2 || got.Data["v"] != "2" {
		t.Fatalf("after refused writes: %+v %v", got, err)
	}
	if _, err := kv.Get(ctx, "app/new"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("a refused write created app/new: %v", err)
	}
	// The client's own option carries a matching cas through.
	if _, err := kv.Put(ctx, "app/db", map[string]any{"v": "3"}, api.WithCheckAndSet(2)); err != nil {
		t.Fatalf("matching cas through the client: %v", err)
	}
	if _, err := kv.Put(ctx, "app/db", map[string]any{"v": "4"}, api.WithCheckAndSet(2)); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("stale cas through the client: %v", err)
	}
}

// TestKVMetadataCASRequired: as in Vault, metadata writes take no cas, and
// setting cas_required to false on a mount that requires check-and-set is
// stored but answered with a warning, since writes still need a cas.
func TestKVMetadataCASRequired(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if _, err := s.client.Logical().Write("secret/config", map[string]any{"cas_required": true}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Logical().Write("secret/metadata/app/db", map[string]any{"cas_required": false, "max_versions": 3})
	if err != nil || resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "cas_required") {
		t.Fatalf("metadata write with cas_required=false: %+v %v", resp, err)
	}
	resp, err = s.client.Logical().JSONMergePatch(ctx, "secret/metadata/app/db", map[string]any{"cas_required": false})
	if err != nil || resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("metadata patch with cas_required=false: %+v %v", resp, err)
	}
	resp, err = s.client.Logical().Write("secret/metadata/app/db", map[string]any{"cas_required": true})
	if err != nil || (resp != nil && len(resp.Warnings) != 0) {
		t.Fatalf("metadata write with cas_required=true: %+v %v", resp, err)
	}
	meta, err := s.client.KVv2("secret").GetMetadata(ctx, "app/db")
	if err != nil || !meta.CASRequired || meta.MaxVersions != 3 {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	// The mount's requirement still holds for data writes.
	if _, err := s.client.Logical().Write("secret/metadata/app/db", map[string]any{"cas_required": false}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.Logical().Write("secret/data/app/db", map[string]any{"data": map[string]any{"a": "b"}})
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || !slices.ContainsFunc(re.Errors, func(m string) bool {
		return strings.HasPrefix(m, "check-and-set parameter required for this call")
	}) {
		t.Fatalf("write without cas on a requiring mount: %v", err)
	}
}
