package cli

import (
	"reflect"
	"strings"
	"testing"
)

const leaseLookupBody = `{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,"data":{` +
	`"expire_time":"2030-01-02T04:04:05Z","id":"db/creds/app/AbC","issue_time":"2030-01-02T03:04:05Z",` +
	`"last_renewal":null,"renewable":true,"ttl":3599},"warnings":null,"auth":null}`

// TestLeaseCommands checks what each lease command sends, prints and exits
// with, as Vault's CLI does.
func TestLeaseCommands(t *testing.T) {
	t.Parallel()
	routes := map[string]fakeReply{
		"PUT /v1/sys/leases/lookup":                  {body: leaseLookupBody},
		"PUT /v1/sys/leases/renew":                   {body: `{"lease_id":"db/creds/app/AbC","renewable":true,"lease_duration":3600,"data":null}`},
		"PUT /v1/sys/leases/revoke/db/creds/app/AbC": {status: 202},
		"PUT /v1/sys/leases/revoke-prefix/db/creds":  {status: 204},
		"PUT /v1/sys/leases/revoke-force/db/creds":   {status: 204},
		"PUT /v1/sys/leases/revoke/db/creds/app/bad": {status: 400, body: `{"errors":["failed to revoke lease db/creds/app/bad: the database is down"]}`},
	}
	tests := map[string]struct {
		args           []string
		want           []string // requests
		body           string   // JSON of the last request, if checked
		code           int
		stdout, stderr string // substrings
	}{
		"lookup": {args: []string{"lease", "lookup", "db/creds/app/AbC"}, want: []string{"PUT /v1/sys/leases/lookup"},
			body: `{"lease_id":"db/creds/app/AbC"}`, stdout: "ttl             59m59s"},
		"lookup without id": {args: []string{"lease", "lookup"}, code: 1, stderr: "Missing ID!"},
		"renew": {args: []string{"lease", "renew", "-increment=1h", "db/creds/app/AbC"}, want: []string{"PUT /v1/sys/leases/renew"},
			body: `{"lease_id":"db/creds/app/AbC","increment":3600}`, stdout: "lease_duration     1h"},
		"renew, bad increment": {args: []string{"lease", "renew", "-increment=soon", "x"}, code: 1, stderr: "parsing -increment"},
		"revoke, queued": {args: []string{"lease", "revoke", "db/creds/app/AbC"}, want: []string{"PUT /v1/sys/leases/revoke/db/creds/app/AbC"},
			body: `{"sync":false}`, stdout: "All revocation operations queued successfully!"},
		"revoke -sync": {args: []string{"lease", "revoke", "-sync", "db/creds/app/AbC"}, want: []string{"PUT /v1/sys/leases/revoke/db/creds/app/AbC"},
			body: `{"sync":true}`, stdout: "Success! Revoked lease: db/creds/app/AbC"},
		"revoke -prefix -sync": {args: []string{"lease", "revoke", "-prefix", "-sync", "db/creds"}, want: []string{"PUT /v1/sys/leases/revoke-prefix/db/creds"},
			body: `{"sync":true}`, stdout: "Success! Revoked any leases with prefix: db/creds"},
		"revoke -force -prefix": {args: []string{"lease", "revoke", "-force", "-prefix", "db/creds"}, want: []string{"PUT /v1/sys/leases/revoke-force/db/creds"},
			stdout: "Success! Force revoked any leases with prefix: db/creds", stderr: "Warning! Force-removing leases"},
		"revoke -force alone":  {args: []string{"lease", "revoke", "-force", "db/creds"}, code: 1, stderr: "Specifying -force requires also specifying -prefix"},
		"revoke without id":    {args: []string{"lease", "revoke"}, code: 1, stderr: "Not enough arguments (expected 1, got 0)"},
		"revoke two ids":       {args: []string{"lease", "revoke", "a", "b"}, code: 1, stderr: "Too many arguments (expected 1, got 2)"},
		"revoke fails":         {args: []string{"lease", "revoke", "db/creds/app/bad"}, want: []string{"PUT /v1/sys/leases/revoke/db/creds/app/bad"}, code: 2, stderr: "Error revoking lease db/creds/app/bad: Code: 400"},
		"revoke -prefix fails": {args: []string{"lease", "revoke", "-prefix", "nope"}, want: []string{"PUT /v1/sys/leases/revoke-prefix/nope"}, code: 2, stderr: "Error revoking leases with prefix nope"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, routes)
			stdout, stderr, code := runCLI(t, fakeEnv(t, f), "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if got := f.requests(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("requests:\n got %q\nwant %q", got, tc.want)
			}
			if tc.body != "" {
				assertJSON(t, f.last().body, tc.body)
			}
			if !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
		})
	}
}

// TestLeaseLookupGolden: lease lookup prints Vault's table, the TTL as a
// duration.
func TestLeaseLookupGolden(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, map[string]fakeReply{"PUT /v1/sys/leases/lookup": {body: leaseLookupBody}})
	stdout, stderr, code := runCLI(t, fakeEnv(t, f), "", "lease", "lookup", "db/creds/app/AbC")
	if code != 0 {
		t.Fatal(stderr)
	}
	golden(t, "lease_lookup", []byte(stdout))
}
