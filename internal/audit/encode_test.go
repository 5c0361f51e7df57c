package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// The entry types the formatter once encoded through encoding/json: the
// reference the hand-written encoder must match byte for byte.
// The JSON shapes of Vault's audit entries: one "request" line and one
// "response" line per request.
type refEntry struct {
	Time     string         `json:"time"`
	Type     string         `json:"type"`
	Auth     *authEntry     `json:"auth,omitempty"`
	Request  *requestEntry  `json:"request,omitempty"`
	Response *responseEntry `json:"response,omitempty"`
	Error    string         `json:"error,omitempty"`
}

type authEntry struct {
	ClientToken      string            `json:"client_token,omitempty"`
	Accessor         string            `json:"accessor,omitempty"`
	DisplayName      string            `json:"display_name,omitempty"`
	Policies         []string          `json:"policies,omitempty"`
	TokenPolicies    []string          `json:"token_policies,omitempty"`
	IdentityPolicies []string          `json:"identity_policies,omitempty"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	EntityID         string            `json:"entity_id,omitempty"`
	TokenType        string            `json:"token_type,omitempty"`
	TokenTTL         int64             `json:"token_ttl,omitempty"`
	TokenIssueTime   string            `json:"token_issue_time,omitempty"`
	NumUses          int               `json:"num_uses,omitempty"`
}

type namespaceEntry struct {
	ID string `json:"id"`
}

type requestEntry struct {
	ID                  string          `json:"id,omitempty"`
	Operation           string          `json:"operation"`
	MountPoint          string          `json:"mount_point,omitempty"`
	MountType           string          `json:"mount_type,omitempty"`
	MountAccessor       string          `json:"mount_accessor,omitempty"`
	ClientToken         string          `json:"client_token,omitempty"`
	ClientTokenAccessor string          `json:"client_token_accessor,omitempty"`
	Namespace           namespaceEntry  `json:"namespace"`
	Path                string          `json:"path"`
	Data                json.RawMessage `json:"data,omitempty"`
	RemoteAddress       string          `json:"remote_address,omitempty"`
	RemotePort          int             `json:"remote_port,omitempty"`
	WrapTTL             int64           `json:"wrap_ttl,omitempty"`
}

type secretEntry struct {
	LeaseID string `json:"lease_id"`
}

type wrapEntry struct {
	TTL             int64  `json:"ttl"`
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

type responseEntry struct {
	MountPoint    string          `json:"mount_point,omitempty"`
	MountType     string          `json:"mount_type,omitempty"`
	MountAccessor string          `json:"mount_accessor,omitempty"`
	Auth          *authEntry      `json:"auth,omitempty"`
	Secret        *secretEntry    `json:"secret,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
	WrapInfo      *wrapEntry      `json:"wrap_info,omitempty"`
	Warnings      []string        `json:"warnings,omitempty"`
}

// refLine encodes in as the formatter did with encoding/json.
func refLine(f *formatter, in *Input, typ string, now time.Time) []byte {
	hash := func(s string) string {
		if f.logRaw || s == "" {
			return s
		}
		return f.salt.Hash(s)
	}
	acc := func(s string) string {
		if !f.hmacAccessor {
			return s
		}
		return hash(s)
	}
	data := func(m map[string]any, clear []string) json.RawMessage {
		if len(m) == 0 {
			return nil
		}
		return f.values(clear).appendData(nil, m)
	}
	auth := func(a *logical.Auth, caller bool) *authEntry {
		if a == nil {
			return nil
		}
		e := &authEntry{ClientToken: hash(a.ClientToken), Accessor: acc(a.Accessor), DisplayName: a.DisplayName,
			Policies: a.Policies, TokenPolicies: a.TokenPolicies, IdentityPolicies: a.IdentityPolicies,
			Metadata: a.Metadata, EntityID: a.EntityID, TokenType: a.TokenType, NumUses: a.NumUses,
			TokenTTL: int64(a.LeaseDuration.Seconds())}
		if caller {
			e.TokenTTL = int64(in.TokenTTL.Seconds())
			if !in.TokenIssueTime.IsZero() {
				e.TokenIssueTime = in.TokenIssueTime.UTC().Format(time.RFC3339)
			}
		}
		return e
	}
	req := in.Request
	op := in.Operation
	if op == "" {
		op = req.Operation
	}
	r := &requestEntry{ID: req.ID, Operation: string(op), MountPoint: in.MountPoint, MountType: in.MountType,
		MountAccessor: in.MountAccessor, ClientToken: hash(req.ClientToken), Namespace: namespaceEntry{ID: "root"},
		Path: req.Path, Data: data(req.Data, in.NonHMACRequestKeys), WrapTTL: int64(req.WrapTTL.Seconds())}
	if in.Auth != nil {
		r.ClientTokenAccessor = acc(in.Auth.Accessor)
	}
	if host, port, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		r.RemoteAddress = host
		r.RemotePort, _ = strconv.Atoi(port)
	} else {
		r.RemoteAddress = req.RemoteAddr
	}
	e := refEntry{Time: now.UTC().Format(time.RFC3339Nano), Type: typ, Auth: auth(in.Auth, true), Request: r}
	if in.Err != nil {
		e.Error = in.Err.Error()
	}
	if typ == "response" {
		rs := &responseEntry{MountPoint: in.MountPoint, MountType: in.MountType, MountAccessor: in.MountAccessor}
		if resp := in.Response; resp != nil {
			rs.Warnings = resp.Warnings
			rs.Auth = auth(resp.Auth, false)
			if resp.Secret != nil {
				rs.Secret = &secretEntry{LeaseID: resp.Secret.LeaseID}
			}
			if w := resp.WrapInfo; w != nil {
				rs.WrapInfo = &wrapEntry{TTL: int64(w.TTL.Seconds()), Token: hash(w.Token), Accessor: acc(w.Accessor),
					CreationTime: w.CreationTime.UTC().Format(time.RFC3339Nano), CreationPath: w.CreationPath,
					WrappedAccessor: acc(w.WrappedAccessor)}
			}
			rs.Data = data(resp.Data, in.NonHMACResponseKeys)
		}
		e.Response = rs
	}
	b, err := json.Marshal(&e)
	if err != nil {
		panic(err)
	}
	return append([]byte(f.prefix), b...)
}

// TestEncoderMatchesReference: the hand-written lines are the bytes
// encoding/json made of the entry types, for every option and shape.
func TestEncoderMatchesReference(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 22, 0, 0, 123456789, time.FixedZone("x", 3600))
	full := &Input{
		Request: &logical.Request{ID: "r1", Operation: logical.UpdateOperation, Path: "secret/data/<x>", ClientToken: "s.root",
			RemoteAddr: "[::1]:4242", WrapTTL: time.Minute, Data: map[string]any{"pw": "hunter2", "n": 3, "l": []any{"a", 1.5},
				"m": map[string]any{"k": "v\n\"é"}, "raw": json.RawMessage(`{"a": "b", "c": [1, "d", null, true], "e\u00e9": "x\\ny"}`)},
			Headers: http.Header{"X-Custom": {"v1"}}},
		Operation: logical.CreateOperation,
		Auth: &logical.Auth{ClientToken: "s.root", Accessor: "acc1", Policies: []string{"root", "<p>"}, TokenPolicies: []string{"root"},
			IdentityPolicies: []string{"ip"}, Metadata: map[string]string{"b": "2", "a": "&1"}, DisplayName: "root & co",
			EntityID: "ent", TokenType: "service", NumUses: 3},
		TokenTTL: time.Hour, TokenIssueTime: now, MountType: "kv", MountPoint: "secret/", MountAccessor: "kv_1",
		NonHMACRequestKeys: []string{"pw"}, NonHMACResponseKeys: []string{"data"},
		Response: &logical.Response{Data: map[string]any{"keys": []string{"a", "b"}, "data": json.RawMessage(`{"value":"s3cr3t"}`)},
			Auth:     &logical.Auth{ClientToken: "s.new", Accessor: "nacc", LeaseDuration: 2 * time.Hour, Policies: []string{"default"}},
			Secret:   &logical.Secret{LeaseID: "secret/creds/x/abc"},
			WrapInfo: &logical.WrapInfo{Token: "s.wrap", Accessor: "wacc", TTL: time.Minute, CreationTime: now, CreationPath: "x", WrappedAccessor: "wa"},
			Warnings: []string{"careful <now>"}},
		Err: errors.New("boom \"quoted\""),
	}
	bare := &Input{Request: &logical.Request{Operation: logical.ReadOperation, Path: "sys/health", RemoteAddr: "no-port"}}
	empty := &Input{Request: &logical.Request{Operation: logical.ListOperation, Path: "x/", Data: map[string]any{}},
		Response: &logical.Response{WrapInfo: &logical.WrapInfo{}}, Err: errors.New("")}
	inputs := map[string]*Input{"full": full, "bare": bare, "empty": empty}
	opts := map[string]options{"defaults": {}, "raw": {"log_raw": "true"}, "accessors": {"hmac_accessor": "false"},
		"prefix": {"prefix": "AUDIT> "}}
	for iname, in := range inputs {
		for oname, o := range opts {
			f, err := newFormatter(o, NewSalt(testKey))
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"request", "response"} {
				var got []byte
				if typ == "request" {
					got = f.appendRequest(nil, in, nil, now)
				} else {
					got = f.appendResponse(nil, in, nil, now)
				}
				if want := refLine(f, in, typ, now); string(got) != string(want) {
					t.Errorf("%s/%s/%s:\n got %s\nwant %s", iname, oname, typ, got, want)
				}
			}
		}
	}
}

// TestAppendRaw: a JSON text is written as decoding it would write it
// (keys in sorted texts), and a text the scanner refuses goes through
// the decoder, never into the line as it is.
func TestAppendRaw(t *testing.T) {
	t.Parallel()
	e := valueEnc{salt: NewSalt(testKey), clear: []string{"open"}}
	cases := map[string]string{
		"object":   `{"a":"x","b":{"c":["y",1,-2.5e3,true,false,null]},"open":"z"}`,
		"spaces":   " { \"a\" : [ \"x\" , { } , [ ] ] , \"open\" : [\"in clear\", {\"k\": \"hashed\"}] } ",
		"escapes":  `{"a\"b":"line\nbreak","open":"<b>","u":"\u00e9\u2028<&>"}`,
		"scalar":   `"just a string"`,
		"number":   `12345678901234567890`,
		"invalid":  `{"a":"x",}`,
		"trailing": `{"a":"x"} {"b":1}`,
		"bad num":  `{"a":01}`,
		"deep":     string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)),
	}
	for name, raw := range cases {
		got := e.append(nil, json.RawMessage(raw), false)
		var want []byte
		if json.Valid([]byte(raw)) {
			want = e.appendOther(nil, json.RawMessage(raw), false)
		} else {
			want = e.str(nil, "unencodable value", false) // what json.Marshal refused before

		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", name, got)
		}
	}
}

// TestNonHMACKeys follows Vault's rule: a string stays in the clear when
// the nearest object key above it is listed, in lists under it too, but
// not in an object under it.
func TestNonHMACKeys(t *testing.T) {
	t.Parallel()
	salt := NewSalt(testKey)
	e := valueEnc{salt: salt, clear: []string{"user", "tags"}}
	in := map[string]any{"user": "alice", "password": "pw", "tags": []any{"t1", map[string]any{"user": "bob", "x": "y"}},
		"nested": map[string]any{"user": "carol", "pw": "p2"}, "ms": map[string]string{"user": "dave", "pw": "p3"},
		"raw": json.RawMessage(`{"user":"erin","pw":"p4","tags":["t2"]}`)}
	var out map[string]any
	if err := json.Unmarshal(e.appendData(nil, in), &out); err != nil {
		t.Fatal(err)
	}
	tags := out["tags"].([]any)
	nested, ms, raw := out["nested"].(map[string]any), out["ms"].(map[string]any), out["raw"].(map[string]any)
	clear := []any{out["user"], tags[0], tags[1].(map[string]any)["user"], nested["user"], ms["user"], raw["user"], raw["tags"].([]any)[0]}
	if want := []any{"alice", "t1", "bob", "carol", "dave", "erin", "t2"}; !equalAny(clear, want) {
		t.Errorf("in the clear: %v, want %v", clear, want)
	}
	hashed := map[any]string{out["password"]: "pw", tags[1].(map[string]any)["x"]: "y", nested["pw"]: "p2", ms["pw"]: "p3", raw["pw"]: "p4"}
	for got, plain := range hashed {
		if got != salt.Hash(plain) {
			t.Errorf("%q: %v, want its HMAC", plain, got)
		}
	}
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzAppendRaw: whatever a stored secret holds, the line stays valid
// JSON, and in the clear (log_raw) it says what the secret said.
func FuzzAppendRaw(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[1,"x",{"k":null}]`, `"\u00e9\n"`, `{"a":01}`, `{"a":"x",}`, `-1.5e+3`, ` {} `, `{"k":"<&>"}`} {
		f.Add([]byte(s))
	}
	hashed, clear := valueEnc{salt: NewSalt(testKey)}, valueEnc{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if out := hashed.append(nil, json.RawMessage(raw), false); !json.Valid(out) {
			t.Fatalf("hashed: invalid JSON %q from %q", out, raw)
		}
		out := clear.append(nil, json.RawMessage(raw), false)
		if !json.Valid(out) {
			t.Fatalf("clear: invalid JSON %q from %q", out, raw)
		}
		if !json.Valid(raw) {
			return
		}
		decode := func(b []byte) any {
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		if want, got := mustJSON(decode(raw)), mustJSON(decode(out)); want != got {
			t.Fatalf("clear: %s from %s", got, want)
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
