package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// mustSecret parses a response envelope as the API client does.
func mustSecret(t *testing.T, body string) *api.Secret {
	t.Helper()
	sec, err := api.ParseSecret(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

const (
	kvReadBody = `{"request_id":"r1","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"p@ss","user":"app"},` +
		`"metadata":{"created_time":"2024-01-02T03:04:05.000000006Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},` +
		`"wrap_info":null,"warnings":null,"auth":null}`
	authBody = `{"request_id":"r2","data":null,"auth":{"client_token":"s.abc","accessor":"acc","policies":["default","dev"],` +
		`"token_policies":["default","dev"],"metadata":{"team":"x"},"lease_duration":3600,"renewable":true}}`
	leaseBody = `{"request_id":"r3","lease_id":"db/creds/r/1","lease_duration":2764800,"renewable":true,"data":{"username":"u","n":7}}`
	listBody  = `{"data":{"keys":["a/","b"]}}`
)

// TestOutputGolden compares each format's output with testdata/golden;
// run with -update to rewrite them after an intended change.
func TestOutputGolden(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		format, field string
		print         func(s *session) error
	}{
		"kv_get_table": {"table", "", func(s *session) error {
			return s.printKVGet(kvPath{mount: "secret/", rel: "a", v2: true}, mustSecret(t, kvReadBody), "secret/data/a")
		}},
		"kv_get_json": {"json", "", func(s *session) error {
			return s.printKVGet(kvPath{mount: "secret/", rel: "a", v2: true}, mustSecret(t, kvReadBody), "secret/data/a")
		}},
		"kv_get_yaml": {"yaml", "", func(s *session) error {
			return s.printKVGet(kvPath{mount: "secret/", rel: "a", v2: true}, mustSecret(t, kvReadBody), "secret/data/a")
		}},
		"kv_get_field": {"table", "password", func(s *session) error {
			return s.printKVGet(kvPath{mount: "secret/", rel: "a", v2: true}, mustSecret(t, kvReadBody), "secret/data/a")
		}},
		"kv_v1_get": {"table", "", func(s *session) error {
			return s.printKVGet(kvPath{mount: "kv/", rel: "a"}, mustSecret(t, `{"data":{"a":"b"}}`), "kv/a")
		}},
		"kv_put_table": {"table", "", func(s *session) error {
			return s.printKVWrite(kvPath{v2: true}, mustSecret(t, `{"data":{"version":2,"destroyed":false}}`), "secret/data/a")
		}},
		"auth_table":  {"table", "", func(s *session) error { return s.out.secret(mustSecret(t, authBody)) }},
		"auth_json":   {"json", "", func(s *session) error { return s.out.secret(mustSecret(t, authBody)) }},
		"auth_field":  {"table", "token", func(s *session) error { return s.out.secret(mustSecret(t, authBody)) }},
		"lease_table": {"table", "", func(s *session) error { return s.out.secret(mustSecret(t, leaseBody)) }},
		"lease_yaml":  {"yaml", "", func(s *session) error { return s.out.secret(mustSecret(t, leaseBody)) }},
		"list_table":  {"table", "", func(s *session) error { return s.printKeys(mustSecret(t, listBody), "p") }},
		"list_json":   {"json", "", func(s *session) error { return s.printKeys(mustSecret(t, listBody), "p") }},
		"warnings_table": {"table", "", func(s *session) error {
			return s.out.secret(mustSecret(t, `{"data":{"k":"v"},"warnings":["careful"]}`))
		}},
		"metadata_table": {"table", "", func(s *session) error {
			return s.printMetadata(mustSecret(t, `{"data":{"current_version":2,"max_versions":0,"versions":{"10":{"destroyed":true},"2":{"deletion_time":""}}}}`), "secret/metadata/a")
		}},
		"status_table": {"table", "", func(s *session) error {
			return s.printStatus(statusOutput{SealStatusResponse: &api.SealStatusResponse{Type: "shamir", Initialized: true, Sealed: true, T: 2, N: 3, Progress: 1, Nonce: "n", Version: "0.1.0", StorageType: "inmem"}})
		}},
		"status_json": {"json", "", func(s *session) error {
			return s.printStatus(statusOutput{SealStatusResponse: &api.SealStatusResponse{Type: "shamir", Initialized: true, T: 1, N: 1, Version: "0.1.0"}})
		}},
		"mounts_table": {"table", "", func(s *session) error {
			return s.printMounts(map[string]*api.MountOutput{"secret/": {Type: "kv", Accessor: "kv_1", Options: map[string]string{"version": "2"}}, "sys/": {Type: "system", Description: "system endpoints"}}, false)
		}},
		"mounts_detailed": {"table", "", func(s *session) error {
			return s.printMounts(map[string]*api.MountOutput{"secret/": {Type: "kv", Accessor: "kv_1", UUID: "u", Options: map[string]string{"version": "2"}, Config: api.MountConfigOutput{MaxLeaseTTL: 3600}}}, true)
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			out, err := newPrinter(&buf, tc.format, tc.field)
			if err != nil {
				t.Fatal(err)
			}
			s := &session{env: &env{stdout: &buf}, out: out}
			if err := tc.print(s); err != nil {
				t.Fatal(err)
			}
			golden(t, name, buf.Bytes())
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run TestOutputGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
	}
}

// TestFieldMissing checks that asking for an absent field is a usage error.
func TestFieldMissing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p, _ := newPrinter(&buf, "table", "nope")
	err := p.secret(mustSecret(t, `{"data":{"k":"v"}}`))
	var ee *exitError
	if !asExit(err, &ee) || ee.code != exitUsage {
		t.Fatalf("err = %v, want a usage error", err)
	}
}

func asExit(err error, target **exitError) bool {
	e, ok := err.(*exitError)
	*target = e
	return ok
}

// TestJSONIsEnvelope checks the JSON output can be parsed back into the
// same response.
func TestJSONIsEnvelope(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p, _ := newPrinter(&buf, "json", "")
	if err := p.secret(mustSecret(t, kvReadBody)); err != nil {
		t.Fatal(err)
	}
	var back struct {
		RequestID string `json:"request_id"`
		Data      struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.RequestID != "r1" || back.Data.Data["password"] != "p@ss" {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		secs int
		want string
	}{
		"zero is infinite": {0, "∞"},
		"seconds":          {45, "45s"},
		"whole hours":      {2764800, "768h"},
		"hours and mins":   {5400, "1h30m"},
		"mixed":            {3725, "1h2m5s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := humanDuration(tc.secs); got != tc.want {
				t.Errorf("humanDuration(%d) = %q, want %q", tc.secs, got, tc.want)
			}
		})
	}
}
