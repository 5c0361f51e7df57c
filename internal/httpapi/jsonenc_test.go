package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/logical"
)

// stdEncode is what the envelope encoder must reproduce: encoding/json's
// Encoder, HTML escaping on, newline at the end.
func stdEncode(t testing.TB, v any) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	err := json.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

func checkSame(t *testing.T, env *logical.Envelope) {
	t.Helper()
	want, wantErr := stdEncode(t, env)
	got, err := appendEnvelope(nil, env)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, encoding/json's %v", err, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("envelope differs from encoding/json's:\n got %s\nwant %s", got, want)
	}
}

type point struct {
	X int     `json:"x"`
	Y float64 `json:"y,omitempty"`
}

func TestAppendEnvelopeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	self := map[string]any{}
	self["me"] = self
	cases := map[string]any{
		"nil data":    nil,
		"empty":       map[string]any{},
		"kv read":     map[string]any{"data": json.RawMessage(`{"password":"s3cr3t","user":"app"}`), "metadata": map[string]any{"created_time": "2026-12-02T01:02:03.123456789Z", "custom_metadata": nil, "deletion_time": "", "destroyed": false, "version": uint64(3)}},
		"escapes":     map[string]any{"html": "<a href='x'>&</a>", "ctl": "a\x00b\x1f\n\t\r\b\f", "quote": `"\`, "uni": "é ü 日本 \u2028 \u2029 \U0001F600", "bad utf8": "a\xffb\xc3"},
		"odd keys":    map[string]any{"<k>": 1, "é": 2, "a\"b": 3, "": 4},
		"numbers":     map[string]any{"i": -7, "i64": int64(math.MinInt64), "i32": int32(5), "u": uint(9), "u64": uint64(math.MaxUint64), "u32": uint32(1), "f": 1.5, "big f": 1e21, "small f": 1e-7, "n": json.Number("12.50"), "i8": int8(-3), "f32": float32(0.1)},
		"nan":         map[string]any{"f": math.NaN()},
		"nested":      map[string]any{"list": []any{"a", 1, true, nil, map[string]any{"z": 1, "a": []string{"x"}}, []any{}}, "strs": []string{}, "nil strs": []string(nil), "nil list": []any(nil), "sm": map[string]string{"b": "<", "a": "\u2028"}, "nil sm": map[string]string(nil), "nil m": map[string]any(nil)},
		"raw":         map[string]any{"spaced": json.RawMessage(`{ "a" : [1, 2] }`), "html": json.RawMessage(`{"a":"<b>&"}`), "line sep": json.RawMessage("\"\u2028\""), "nil": json.RawMessage(nil), "esc": json.RawMessage(`"\u003c"`)},
		"invalid raw": map[string]any{"r": json.RawMessage(`{"a":`)},
		"stored":      map[string]any{"kv": logical.StoredJSON(`{"password":"s3cr3t","n":12}`), "spaced": logical.StoredJSON(`{ "a" : [1, 2] }`), "html": logical.StoredJSON(`{"a":"<b>&"}`), "line sep": logical.StoredJSON("\"\u2028\""), "nil": logical.StoredJSON(nil), "list": []any{logical.StoredJSON(`[1,"x"]`)}},
		"other types": map[string]any{"t": time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC), "p": &point{X: 1}, "s": point{Y: 2}, "d": time.Second, "bytes": []byte("hi<"), "ints": []int{1, 2}, "mm": map[string]map[string]int{"a": {"b": 1}}},
		"cycle":       self,
		"unsupported": map[string]any{"c": make(chan int)},
		"many keys":   manyKeys(40),
		"deep":        deep(100),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var m map[string]any
			if data != nil {
				m = data.(map[string]any)
			}
			checkSame(t, &logical.Envelope{RequestID: "9f1c-<id>", Data: m})
		})
	}
}

func manyKeys(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[string(rune('a'+i%26))+string(rune('A'+i))] = i
	}
	return m
}

func deep(n int) map[string]any {
	m := map[string]any{"leaf": "<x>"}
	for i := range n {
		if i%2 == 0 {
			m = map[string]any{"d": m}
		} else {
			m = map[string]any{"l": []any{m}}
		}
	}
	return m
}

func TestAppendEnvelopeFields(t *testing.T) {
	t.Parallel()
	auth := &logical.Auth{ClientToken: "s.abc", Accessor: "acc", Policies: []string{"default", "<p>"}, TokenPolicies: []string{"default"},
		Metadata: map[string]string{"user": "a&b"}, LeaseDuration: time.Hour, Renewable: true, EntityID: "e1", TokenType: "service"}
	resp := &logical.Response{
		Data:     map[string]any{"k": "v"},
		Secret:   &logical.Secret{LeaseID: "database/creds/r/abc", Renewable: true, TTL: 90 * time.Second},
		Auth:     auth,
		Warnings: []string{"w1", "<w2>"},
		WrapInfo: &logical.WrapInfo{Token: "s.wrap", Accessor: "wacc", TTL: time.Minute, CreationTime: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CreationPath: "secret/data/x", WrappedAccessor: "acc2"},
	}
	env := logical.NewEnvelope("req-1", resp)
	checkSame(t, &env)
	env = logical.NewEnvelope("", &logical.Response{Warnings: []string{}})
	checkSame(t, &env)
}

// FuzzAppendEnvelope decodes arbitrary JSON into the types a response's
// data holds and checks the fast encoder writes what encoding/json does.
func FuzzAppendEnvelope(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"data":{"password":"x<y"},"metadata":{"version":1}}`, `{"a":[1,"b",null,{"c":true}]}`,
		`{"\u2028":"\ud800"}`, `{"a":"\u0000\u001f\"\\"}`, `{"f":1e300,"g":-0.0}`} {
		f.Add(s, "req-id")
	}
	f.Fuzz(func(t *testing.T, in, id string) {
		var data map[string]any
		if json.Unmarshal([]byte(in), &data) != nil {
			return
		}
		raw := json.RawMessage(in)
		env := &logical.Envelope{RequestID: id, Data: data}
		checkSame(t, env)
		env.Data = map[string]any{"raw": raw, "data": data}
		checkSame(t, env)
		// What json.Unmarshal accepts is what the KV engine stores.
		env.Data = map[string]any{"stored": logical.StoredJSON(in)}
		checkSame(t, env)
	})
}

func TestWriteEnvelopeHeadersAndHead(t *testing.T) {
	t.Parallel()
	env := logical.NewEnvelope("id", &logical.Response{Data: map[string]any{"a": "b"}})
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		w := httptest.NewRecorder()
		writeEnvelope(w, httptest.NewRequest(method, "/v1/x", nil), http.StatusCreated, &env)
		want, _ := stdEncode(t, env)
		if method == http.MethodHead {
			want = nil
		}
		if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != "application/json" || !bytes.Equal(w.Body.Bytes(), want) {
			t.Fatalf("%s: status %d, type %q, body %q", method, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
}

// BenchmarkWriteEnvelope is the response of a KV v2 read written through
// appendEnvelope (fast) and through encoding/json (std), as before.
func BenchmarkWriteEnvelope(b *testing.B) {
	env := logical.NewEnvelope("a2b1c3d4-1111-2222-3333-444455556666", &logical.Response{Data: map[string]any{
		"data": logical.StoredJSON(`{"n":"12","value":"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"}`),
		"metadata": map[string]any{"created_time": "2026-12-02T01:02:03.123456789Z", "custom_metadata": nil,
			"deletion_time": "", "destroyed": false, "version": uint64(3)},
	}})
	r := httptest.NewRequest(http.MethodGet, "/v1/secret/data/x", nil)
	for name, write := range map[string]func(http.ResponseWriter){
		"fast": func(w http.ResponseWriter) { writeEnvelope(w, r, http.StatusOK, &env) },
		"std":  func(w http.ResponseWriter) { writeJSON(w, r, http.StatusOK, env) },
	} {
		b.Run(name, func(b *testing.B) {
			w := &nullWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				write(w)
			}
		})
	}
}

type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) WriteHeader(int)             {}
func (w *nullWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestRequestIDIsUUIDv4(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := requestID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id || seen[id] {
			t.Fatalf("request ID %q: %v, version %d, variant %v, repeated %v", id, err, u.Version(), u.Variant(), seen[id])
		}
		seen[id] = true
	}
}

func BenchmarkRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = requestID()
	}
}
