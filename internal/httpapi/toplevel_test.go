package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestDataAtTopLevel(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		resp    *logical.Response
		wantTop map[string]any
		absent  []string
	}{
		"fields copied": {
			resp:    &logical.Response{Data: map[string]any{"keys": []any{"a"}, "policies": []any{"a"}}, DataAtTopLevel: true},
			wantTop: map[string]any{"keys": []any{"a"}, "policies": []any{"a"}},
		},
		"envelope names win": {
			resp:    &logical.Response{Data: map[string]any{"data": "shadow", "request_id": "x", "k": "v"}, DataAtTopLevel: true},
			wantTop: map[string]any{"k": "v", "request_id": "r1"},
		},
		"not asked": {
			resp:   &logical.Response{Data: map[string]any{"keys": []any{"a"}}},
			absent: []string{"keys"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := New(&recorder{}, Options{}).(*api)
			w := httptest.NewRecorder()
			a.writeResponse(w, httptest.NewRequest("GET", "/v1/sys/policy", nil), &logical.Request{ID: "r1", Operation: logical.ReadOperation}, tc.resp)
			keys := topKeys(t, w.Body.String())
			for k, n := range keys {
				if n != 1 {
					t.Fatalf("%q %d times at the top level of %s", k, n, w.Body)
				}
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s: %v", w.Body, err)
			}
			for k, v := range tc.wantTop {
				if got, _ := json.Marshal(body[k]); string(got) != mustJSON(t, v) {
					t.Fatalf("top-level %q = %s, want %s (body %s)", k, got, mustJSON(t, v), w.Body)
				}
			}
			for _, k := range tc.absent {
				if _, ok := body[k]; ok {
					t.Fatalf("%q at the top level: %s", k, w.Body)
				}
			}
			if body["data"] == nil {
				t.Fatalf("data missing: %s", w.Body)
			}
		})
	}
}

// topKeys counts the keys of the top-level JSON object in body.
func topKeys(t *testing.T, body string) map[string]int {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out[k.(string)]++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
