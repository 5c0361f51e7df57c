package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var testKey = bytes.Repeat([]byte{7}, 32)

// writeLog writes n entries through a real file sink, concurrently, and
// closes it.
func writeLog(t *testing.T, path string, n int, opts map[string]string) {
	t.Helper()
	o := options{"file_path": path}
	for k, v := range opts {
		o[k] = v
	}
	s, err := newFileSink(o, testKey, sinkHooks{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Write(context.Background(), fmt.Appendf(nil, `{"type":"request","n":%d}`, i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func verifyFiles(t *testing.T, paths ...string) (VerifyResult, error) {
	t.Helper()
	var files []ChainFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, ChainFile{Name: filepath.Base(p), R: bytes.NewReader(b)})
	}
	return Verify(testKey, files)
}

func editLines(t *testing.T, path string, edit func(lines []string) []string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	out := filepath.Join(t.TempDir(), "tampered.log")
	if err := os.WriteFile(out, []byte(strings.Join(edit(lines), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChainCatchesTampering writes a real chained log and checks that
// each kind of tampering is named at the right line, and that the intact
// log, restarted and rotated, verifies.
func TestChainCatchesTampering(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, path, 40, map[string]string{"checkpoint_interval": "10"})
	res, err := verifyFiles(t, path)
	if err != nil {
		t.Fatalf("intact log: %v", err)
	}
	// open + 4 periodic + close checkpoints around 40 entries.
	if res.Lines != 46 || res.Checkpoints != 6 || res.Unsealed != 0 || res.Continued {
		t.Fatalf("intact log: %+v", res)
	}
	cases := map[string]struct {
		edit func([]string) []string
		line int
		want string
	}{
		"deleted line": {func(l []string) []string { return append(l[:4:4], l[5:]...) }, 5, "chain breaks here"},
		"edited line": {func(l []string) []string {
			l[6] = strings.Replace(l[6], `"n":`, `"n":1`, 1)
			return l
		}, 8, "chain breaks here"},
		"swapped lines": {func(l []string) []string { l[2], l[3] = l[3], l[2]; return l }, 3, "chain breaks here"},
		"moved down":    {func(l []string) []string { return append(append(l[:3:3], l[4], l[5], l[3]), l[6:]...) }, 4, "chain breaks here"},
		"replayed line": {func(l []string) []string { return append(append(l[:6:6], l[3]), l[6:]...) }, 7, "follows tampered.log:3"},
		"inserted line": {func(l []string) []string {
			return append(append(l[:2:2], `{"type":"request","prev_hash":"hmac-sha256:00"}`), l[2:]...)
		}, 3, "chain breaks here"},
		"start removed":  {func(l []string) []string { return l[1:] }, 1, "does not start with a checkpoint"},
		"not json":       {func(l []string) []string { l[9] = "garbage"; return l }, 10, "not a JSON audit entry"},
		"prev_hash gone": {func(l []string) []string { l[9] = `{"type":"request"}`; return l }, 10, "no prev_hash"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := verifyFiles(t, editLines(t, path, tc.edit))
			var te *TamperError
			if !errors.As(err, &te) {
				t.Fatalf("not caught: %v", err)
			}
			if te.Line != tc.line || !strings.Contains(te.Reason, tc.want) {
				t.Fatalf("got line %d %q, want line %d %q", te.Line, te.Reason, tc.line, tc.want)
			}
		})
	}
}

// TestChainContinues: a restarted device continues the chain its file
// ends with; a reopened (rotated) file continues it in the new file.
func TestChainContinues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	writeLog(t, path, 5, nil)
	writeLog(t, path, 5, nil) // a restart: same file, new sink
	res, err := verifyFiles(t, path)
	if err != nil || res.Lines != 14 || res.Count != 14 {
		t.Fatalf("after a restart: %+v %v", res, err)
	}

	s, err := newFileSink(options{"file_path": path}, testKey, sinkHooks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Write(ctx, []byte(`{"type":"request"}`)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []byte(`{"type":"response"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := verifyFiles(t, path+".1", path); err != nil || res.Continued {
		t.Fatalf("both files: %+v %v", res, err)
	}
	if res, err := verifyFiles(t, path); err != nil || !res.Continued || res.Lines != 3 {
		t.Fatalf("the new file alone: %+v %v", res, err)
	}
	if _, err := verifyFiles(t, path, path+".1"); err == nil {
		t.Fatal("files in the wrong order verified")
	}
}

// TestFileDeviceFailure: a write that fails (a full disk) is an error to
// the caller, and the chain stays valid for the next write.
func TestFileDeviceFailure(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	s, err := newFileSink(options{"file_path": "/dev/full", "mode": "0"}, testKey, sinkHooks{})
	if err == nil {
		err = s.Write(context.Background(), []byte(`{"type":"request"}`))
		s.Close()
	}
	if err == nil {
		t.Fatal("writing to a full device succeeded")
	}
}

func TestAppendHashed(t *testing.T) {
	t.Parallel()
	salt := NewSalt(testKey)
	in := map[string]any{"s": "secret", "n": 3, "f": 1.5, "b": true, "nil": nil, "nested": map[string]any{"l": []any{"x", json.Number("7")}},
		"ss": []string{"a"}, "ms": map[string]string{"k": "v"}, "q": "a\"b\n<", "st": struct {
			P string `json:"p"`
		}{"pw"}}
	var out map[string]any
	if err := json.Unmarshal(valueEnc{salt: salt}.append(nil, in, false), &out); err != nil {
		t.Fatal(err)
	}
	if in["s"] != "secret" {
		t.Fatal("the input was changed")
	}
	if out["s"] != salt.Hash("secret") || out["n"] != 3.0 || out["f"] != 1.5 || out["b"] != true || out["nil"] != nil || out["q"] != salt.Hash("a\"b\n<") {
		t.Fatalf("scalars: %v", out)
	}
	if l := out["nested"].(map[string]any)["l"].([]any); l[0] != salt.Hash("x") || l[1] != 7.0 {
		t.Fatalf("nested: %v", l)
	}
	if out["st"].(map[string]any)["p"] != salt.Hash("pw") || out["ss"].([]any)[0] != salt.Hash("a") || out["ms"].(map[string]any)["k"] != salt.Hash("v") {
		t.Fatalf("struct, slice, map: %v", out)
	}
	var raw map[string]any
	if err := json.Unmarshal(valueEnc{}.append(nil, map[string]any{"q": "a\"b\n<\x00é"}, false), &raw); err != nil || raw["q"] != "a\"b\n<\x00é" {
		t.Fatalf("raw escaping: %v %v", raw, err)
	}
	if !strings.HasPrefix(salt.Hash("x"), "hmac-sha256:") || salt.Hash("x") == NewSalt([]byte("other")).Hash("x") {
		t.Fatal("salted hash")
	}
}
