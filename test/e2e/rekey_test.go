package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
	obshamir "github.com/openbao/openbao/sdk/v2/helper/shamir"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// call sends a raw request with the client's token (none for an
// unauthenticated client) and returns the status and the decoded body.
func call(t *testing.T, c *api.Client, method, path string, body any) (int, map[string]any) {
	t.Helper()
	r := c.NewRequest(method, "/v1/"+path)
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.RawRequest(r)
	if resp == nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, out
}

// errorsOf returns the "errors" list of an error body, joined.
func errorsOf(body map[string]any) string {
	list, _ := body["errors"].([]any)
	var out []string
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// unsealWithKeys seals nothing: it gives keys to a sealed server and
// reports whether it ended unsealed, failing on anything but success or a
// 400 for a wrong key.
func unsealWithKeys(t *testing.T, c *api.Client, keys []string) bool {
	t.Helper()
	if _, err := c.Sys().ResetUnsealProcess(); err != nil {
		t.Fatal(err)
	}
	var st *api.SealStatusResponse
	for _, k := range keys {
		var err error
		if st, err = c.Sys().Unseal(k); err != nil {
			if statusOf(err) == http.StatusBadRequest {
				return false
			}
			t.Fatal(err)
		}
	}
	return st != nil && !st.Sealed
}

// TestRekey changes 3-of-5 shares into 2-of-3 through the unauthenticated
// sys/rekey/* with the OpenBao client: afterwards only the new shares
// unseal, the data is still there, and the shares combine with OpenBao's
// Shamir.
func TestRekey(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	if _, err := s.client.KVv2("secret").Put(ctx, "app", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "") // rekey needs no token, as in Vault
	st, err := anon.Sys().RekeyStatus()
	if err != nil || st.Started || st.Required != 3 {
		t.Fatalf("status before = %+v, %v", st, err)
	}
	st, err = anon.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil || !st.Started || st.Nonce == "" || st.N != 3 || st.T != 2 || st.Required != 3 || st.VerificationRequired {
		t.Fatalf("init = %+v, %v", st, err)
	}
	var up *api.RekeyUpdateResponse
	for i, k := range s.keys[2:5] {
		if up, err = anon.Sys().RekeyUpdate(k, st.Nonce); err != nil {
			t.Fatalf("share %d: %v", i, err)
		}
		if up.Complete != (i == 2) {
			t.Fatalf("after share %d complete = %v", i, up.Complete)
		}
		if !up.Complete {
			if got, _ := anon.Sys().RekeyStatus(); got.Progress != i+1 {
				t.Fatalf("progress after share %d = %d", i, got.Progress)
			}
		}
	}
	if len(up.Keys) != 3 || len(up.KeysB64) != 3 || up.Nonce != st.Nonce || up.VerificationRequired {
		t.Fatalf("final update = %+v", up)
	}
	var raw [][]byte
	for _, k := range up.Keys[1:] {
		b, _ := hex.DecodeString(k)
		raw = append(raw, b)
	}
	if key, err := obshamir.Combine(raw); err != nil || len(key) != 32 {
		t.Fatalf("OpenBao's Shamir cannot combine the new shares: %v", err)
	}
	if st, _ := anon.Sys().RekeyStatus(); st.Started || st.Required != 2 {
		t.Fatalf("status after = %+v", st)
	}
	if ss, _ := anon.Sys().SealStatus(); ss.T != 2 || ss.N != 3 {
		t.Fatalf("seal status after rekey = %+v", ss)
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if unsealWithKeys(t, anon, s.keys[:3]) {
		t.Fatal("the old shares still unseal")
	}
	if !unsealWithKeys(t, anon, up.KeysB64[:2]) {
		t.Fatal("the new shares do not unseal")
	}
	sec, err := s.client.KVv2("secret").Get(ctx, "app")
	if err != nil || sec.Data["k"] != "v" {
		t.Fatalf("secret after rekey = %v, %v", sec, err)
	}
}

// TestRekeyVerification runs a rekey that requires verification: until
// the new shares are given back the old ones stay in force, a seal drops
// the pending rekey, and after verification only the new shares unseal.
func TestRekeyVerification(t *testing.T) {
	t.Parallel()
	s := start(t)
	anon := s.as(t, "")
	begin := func() (*api.RekeyUpdateResponse, string) {
		t.Helper()
		st, err := anon.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 4, SecretThreshold: 2, RequireVerification: true})
		if err != nil || !st.VerificationRequired {
			t.Fatalf("init = %+v, %v", st, err)
		}
		var up *api.RekeyUpdateResponse
		for _, k := range s.keys[:3] {
			if up, err = anon.Sys().RekeyUpdate(k, st.Nonce); err != nil {
				t.Fatal(err)
			}
		}
		if !up.Complete || !up.VerificationRequired || up.VerificationNonce == "" || len(up.Keys) != 4 {
			t.Fatalf("update = %+v", up)
		}
		return up, st.Nonce
	}

	// A seal before verification discards the new shares.
	up, _ := begin()
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if unsealWithKeys(t, anon, up.Keys[:2]) {
		t.Fatal("unverified new shares unsealed")
	}
	if !unsealWithKeys(t, anon, s.keys[:3]) {
		t.Fatal("the old shares stopped working before verification")
	}
	if st, _ := anon.Sys().RekeyStatus(); st.Started {
		t.Fatal("the rekey survived a seal")
	}

	up, nonce := begin()
	st, err := anon.Sys().RekeyStatus()
	if err != nil || st.VerificationNonce != up.VerificationNonce || !st.Started {
		t.Fatalf("status while verifying = %+v, %v", st, err)
	}
	if _, err := anon.Sys().RekeyUpdate(s.keys[3], nonce); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("update while verification is due = %v", err)
	}
	vs, err := anon.Sys().RekeyVerificationStatus()
	if err != nil || !vs.Started || vs.Nonce != up.VerificationNonce || vs.T != 2 || vs.N != 4 {
		t.Fatalf("verification status = %+v, %v", vs, err)
	}
	// The old shares are the wrong ones to verify with.
	if _, err := anon.Sys().RekeyVerificationUpdate(s.keys[0], vs.Nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Sys().RekeyVerificationUpdate(s.keys[1], vs.Nonce); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("verification with the old shares = %v", err)
	}
	vs, _ = anon.Sys().RekeyVerificationStatus()
	if vs.Nonce == up.VerificationNonce || vs.Progress != 0 {
		t.Fatalf("a failed verification must reset progress and change the nonce: %+v", vs)
	}
	if err := anon.Sys().RekeyVerificationCancel(); err != nil { // DELETE restarts verification
		t.Fatal(err)
	}
	vs2, _ := anon.Sys().RekeyVerificationStatus()
	if vs2.Nonce == vs.Nonce || !vs2.Started {
		t.Fatalf("restarted verification = %+v", vs2)
	}
	var done *api.RekeyVerificationUpdateResponse
	for _, k := range up.KeysB64[2:4] {
		if done, err = anon.Sys().RekeyVerificationUpdate(k, vs2.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !done.Complete || done.Nonce != vs2.Nonce {
		t.Fatalf("verification = %+v", done)
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if unsealWithKeys(t, anon, s.keys[:3]) {
		t.Fatal("the old shares unseal after verification")
	}
	if !unsealWithKeys(t, anon, up.Keys[1:3]) {
		t.Fatal("the verified shares do not unseal")
	}
}

func TestRekeyRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	anon := s.as(t, "")
	cases := map[string]struct {
		client       *api.Client
		method, path string
		body         any
		status       int
		msg          string
	}{
		"pgp keys":        {anon, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 1, "secret_threshold": 1, "pgp_keys": []string{"abc"}}, 400, "PGP"},
		"backup asked":    {anon, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 1, "secret_threshold": 1, "backup": true}, 400, "backup"},
		"bad threshold":   {anon, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 2, "secret_threshold": 3}, 400, "secret_threshold"},
		"no key":          {anon, "PUT", "sys/rekey/update", map[string]any{"nonce": "x"}, 400, "'key' must be specified"},
		"garbage key":     {anon, "PUT", "sys/rekey/update", map[string]any{"key": "zz", "nonce": "x"}, 400, "malformed"},
		"no rekey":        {anon, "PUT", "sys/rekey/update", map[string]any{"key": s.keys[0], "nonce": "x"}, 400, "no rekey is in progress"},
		"verify, none":    {anon, "GET", "sys/rekey/verify", nil, 400, "no rekey configuration found"},
		"recovery keys":   {anon, "GET", "sys/rekey-recovery-key/init", nil, 400, "recovery rekeying not supported"},
		"backup, no auth": {anon, "GET", "sys/rekey/backup", nil, 403, "permission denied"},
		"backup":          {s.client, "GET", "sys/rekey/backup", nil, 400, "no backed-up keys found"},
		"backup delete":   {s.client, "DELETE", "sys/rekey/backup", nil, 204, ""},
		"cancel nothing":  {anon, "DELETE", "sys/rekey/init", nil, 204, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := call(t, tc.client, tc.method, tc.path, tc.body)
			if status != tc.status || !strings.Contains(errorsOf(body), tc.msg) {
				t.Fatalf("%s %s = %d %v, want %d with %q", tc.method, tc.path, status, body, tc.status, tc.msg)
			}
			for _, k := range s.keys {
				if strings.Contains(errorsOf(body), k) {
					t.Fatal("an error quotes a key share")
				}
			}
		})
	}
	// One rekey at a time.
	if _, err := anon.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2}); err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, anon, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2}); status != 400 || !strings.Contains(errorsOf(body), "already in progress") {
		t.Fatalf("second init = %d %v", status, body)
	}
}

// TestRekeyAndGenerateRootSealed: both flows answer 503 while sealed.
func TestRekeyAndGenerateRootSealed(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "")
	for _, p := range []string{"sys/rekey/init", "sys/rekey/verify", "sys/generate-root/attempt", "sys/generate-root-token/attempt"} {
		if status, _ := call(t, anon, "GET", p, nil); status != http.StatusServiceUnavailable {
			t.Fatalf("GET %s while sealed = %d, want 503", p, status)
		}
	}
	for _, p := range []string{"sys/rekey/update", "sys/generate-root/update", "sys/decode-token"} {
		if status, _ := call(t, anon, "PUT", p, map[string]any{"key": s.keys[0]}); status != http.StatusServiceUnavailable {
			t.Fatalf("PUT %s while sealed = %d, want 503", p, status)
		}
	}
	s.unseal(t)
	for _, p := range []string{"sys/rekey/init", "sys/generate-root/attempt"} {
		if status, body := call(t, anon, "GET", p, nil); status != http.StatusOK {
			t.Fatalf("GET %s once unsealed = %d %v, want 200", p, status, body)
		}
	}
}

// TestRekeyStaticSeal: a server that unseals with a key file has no
// shares to rekey, and says so.
func TestRekeyStaticSeal(t *testing.T) {
	t.Parallel()
	co := core.New(core.Config{
		Physical: inmem.New(), StaticKey: []byte(strings.Repeat("k", 32)),
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(ts.Close)
	c := newClient(t, ts.URL, "")
	if _, err := c.Sys().Init(&api.InitRequest{}); err != nil {
		t.Fatal(err)
	}
	status, body := call(t, c, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2})
	if status != 400 || !strings.Contains(errorsOf(body), "static key") {
		t.Fatalf("rekey on a static seal = %d %v", status, body)
	}
	status, body = call(t, c, "PUT", "sys/generate-root/attempt", map[string]any{})
	if status != 400 || !strings.Contains(errorsOf(body), "static key") {
		t.Fatalf("generate-root on a static seal = %d %v", status, body)
	}
}

// TestRekeyNotRateLimited: a quota that locks every client out of the rest
// of the API leaves rekey and root generation usable.
func TestRekeyNotRateLimited(t *testing.T) {
	t.Parallel()
	s := start(t)
	if _, err := s.client.Logical().Write("sys/quotas/rate-limit/global", map[string]any{"rate": 0.000001}); err != nil {
		t.Fatal(err)
	}
	anon := s.as(t, "")
	limited := false
	for range 3 {
		if status, _ := call(t, s.client, "GET", "sys/mounts", nil); status == http.StatusTooManyRequests {
			limited = true
		}
	}
	if !limited {
		t.Fatal("the quota did not limit sys/mounts; the test proves nothing")
	}
	for range 20 {
		for _, p := range []string{"sys/rekey/init", "sys/generate-root/attempt"} {
			if status, body := call(t, anon, "GET", p, nil); status != http.StatusOK {
				t.Fatalf("GET %s under a lock-out quota = %d %v", p, status, body)
			}
		}
	}
}
