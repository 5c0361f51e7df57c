package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
	obroot "github.com/openbao/openbao/sdk/v2/helper/roottoken"
)

// TestGenerateRootAfterRevokingRoot is the operator's way back: the only
// root token is revoked, then three share holders generate a new one
// through Vault's unauthenticated sys/generate-root/*, and the encoded
// token decodes with the code behind `bao operator generate-root -decode`.
func TestGenerateRootAfterRevokingRoot(t *testing.T) {
	t.Parallel()
	cases := map[string]struct{ otp string }{
		"server-generated OTP": {""},
		"client-supplied OTP":  {"abcdefghijklmnopqrstuvwxyz"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t)
			if err := s.client.Auth().Token().RevokeSelf(""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.client.Auth().Token().LookupSelf(); statusOf(err) != http.StatusForbidden {
				t.Fatalf("the old root token still works: %v", err)
			}
			anon := s.as(t, "")
			status, st := call(t, anon, "GET", "sys/generate-root/attempt", nil)
			if status != 200 || st["started"] != false || st["required"] != 3.0 || st["otp_length"] != 26.0 {
				t.Fatalf("status before = %d %v", status, st)
			}
			body := map[string]any{}
			if tc.otp != "" {
				body["otp"] = tc.otp
			}
			status, st = call(t, anon, "PUT", "sys/generate-root/attempt", body)
			if status != 200 || st["started"] != true || st["nonce"] == "" {
				t.Fatalf("init = %d %v", status, st)
			}
			otp := tc.otp
			if otp == "" {
				otp, _ = st["otp"].(string)
			} else if st["otp"] != "" {
				t.Fatal("a client-supplied OTP was echoed back")
			}
			if len(otp) != 26 {
				t.Fatalf("OTP %q", otp)
			}
			nonce, _ := st["nonce"].(string)
			var up map[string]any
			for i, k := range s.keys[1:4] {
				status, up = call(t, anon, "PUT", "sys/generate-root/update", map[string]any{"key": k, "nonce": nonce})
				if status != 200 || up["progress"] != float64(i+1) || up["complete"] != (i == 2) {
					t.Fatalf("share %d = %d %v", i, status, up)
				}
			}
			enc, _ := up["encoded_token"].(string)
			if enc == "" || up["encoded_root_token"] != enc {
				t.Fatalf("final update = %v", up)
			}
			token, err := obroot.DecodeToken(enc, otp, 26)
			if err != nil || !strings.HasPrefix(token, "s.") || len(token) != 26 {
				t.Fatalf("decoded %q, %v", token, err)
			}
			root := s.as(t, token)
			sec, err := root.Auth().Token().LookupSelf()
			if err != nil {
				t.Fatalf("the generated token does not work: %v", err)
			}
			if pols, _ := sec.TokenPolicies(); !slices.Equal(pols, []string{"root"}) {
				t.Fatalf("generated token policies = %v", pols)
			}
			if acc, _ := sec.Data["accessor"].(string); acc == "" {
				t.Fatal("the generated token has no accessor: it was not made by the token store")
			}
			if _, err := root.Logical().Write("sys/policies/acl/p", map[string]any{"policy": `path "x" { capabilities = ["read"] }`}); err != nil {
				t.Fatalf("the generated root token cannot write a policy: %v", err)
			}
			if status, st = call(t, anon, "GET", "sys/generate-root/attempt", nil); st["started"] != false {
				t.Fatalf("status after completion = %d %v", status, st)
			}
			// sys/decode-token, unauthenticated as in OpenBao, decodes it too.
			status, dec := call(t, anon, "PUT", "sys/decode-token", map[string]any{"encoded_token": enc, "otp": otp})
			if data, _ := dec["data"].(map[string]any); status != 200 || data["token"] != token {
				t.Fatalf("decode-token = %d %v", status, dec)
			}
		})
	}
}

// TestGenerateRootToken drives OpenBao's authenticated
// sys/generate-root-token/* with the OpenBao client, as `bao operator
// generate-root` does: it needs a token allowed by policy.
func TestGenerateRootToken(t *testing.T) {
	t.Parallel()
	s := start(t)
	if _, err := s.as(t, "").Sys().GenerateRootStatus(); statusOf(err) != http.StatusForbidden {
		t.Fatalf("generate-root-token without a token = %v, want 403", err)
	}
	if _, err := s.client.Logical().Write("sys/policies/acl/break-glass", map[string]any{"policy": `
path "sys/generate-root-token/*" { capabilities = ["read", "update", "delete"] }`}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"break-glass"}})
	if err != nil {
		t.Fatal(err)
	}
	op := s.as(t, tok.Auth.ClientToken)
	st, err := op.Sys().GenerateRootStatus()
	if err != nil || st.Started || st.Required != 3 || st.OTPLength != 26 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// Start, cancel, start again.
	if _, err := op.Sys().GenerateRootInit("", ""); err != nil {
		t.Fatal(err)
	}
	if err := op.Sys().GenerateRootCancel(); err != nil {
		t.Fatal(err)
	}
	if st, _ := op.Sys().GenerateRootStatus(); st.Started {
		t.Fatal("cancel left the generation running")
	}
	if _, err := op.Sys().GenerateRootInit("", "a PGP key"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("pgp_key = %v, want 400", err)
	}
	if _, err := op.Sys().GenerateRootInit("too-short", ""); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("short OTP = %v, want 400", err)
	}
	st, err = op.Sys().GenerateRootInit("", "")
	if err != nil || !st.Started || len(st.OTP) != st.OTPLength || st.Nonce == "" {
		t.Fatalf("init = %+v, %v", st, err)
	}
	if _, err := op.Sys().GenerateRootInit("", ""); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("second init = %v, want 400", err)
	}
	if _, err := op.Sys().GenerateRootUpdate(s.keys[0], "wrong-nonce"); statusOf(err) != http.StatusBadRequest {
		t.Fatalf("wrong nonce = %v", err)
	}
	var up *api.GenerateRootStatusResponse
	for _, k := range s.keys[:3] {
		if up, err = op.Sys().GenerateRootUpdate(k, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !up.Complete || up.EncodedToken == "" {
		t.Fatalf("final update = %+v", up)
	}
	token, err := obroot.DecodeToken(up.EncodedToken, st.OTP, st.OTPLength)
	if err != nil {
		t.Fatal(err)
	}
	if sec, err := s.as(t, token).Auth().Token().LookupSelf(); err != nil || sec.Data["display_name"] != "root" {
		t.Fatalf("generated token lookup = %v, %v", sec, err)
	}
	// The token-less family shares the one attempt: none is running now.
	if _, st := call(t, s.as(t, ""), "GET", "sys/generate-root/attempt", nil); st["started"] != false {
		t.Fatalf("unauthenticated status = %v", st)
	}
}

func TestGenerateRootWrongShares(t *testing.T) {
	t.Parallel()
	s := start(t)
	other := start(t)
	anon := s.as(t, "")
	status, st := call(t, anon, "PUT", "sys/generate-root/attempt", map[string]any{})
	nonce, _ := st["nonce"].(string)
	if status != 200 || nonce == "" {
		t.Fatalf("init = %d %v", status, st)
	}
	for i, k := range other.keys[:3] {
		status, body := call(t, anon, "PUT", "sys/generate-root/update", map[string]any{"key": k, "nonce": nonce})
		if i < 2 && status != 200 {
			t.Fatalf("share %d = %d %v", i, status, body)
		}
		if i == 2 && (status != 400 || !strings.Contains(errorsOf(body), "root generation aborted")) {
			t.Fatalf("wrong shares = %d %v", status, body)
		}
	}
	status, st = call(t, anon, "GET", "sys/generate-root/attempt", nil)
	if status != 200 || st["started"] != true || st["progress"] != 0.0 || st["nonce"] != nonce {
		t.Fatalf("status after wrong shares = %d %v", status, st)
	}
	if status, body := call(t, anon, "PUT", "sys/generate-root/update", map[string]any{"key": s.keys[0], "nonce": nonce}); status != 200 {
		t.Fatalf("right share after wrong ones = %d %v", status, body)
	}
	if status, body := call(t, anon, "PUT", "sys/generate-root/update", map[string]any{"key": s.keys[0], "nonce": nonce}); status != 400 {
		t.Fatalf("the same share twice = %d %v", status, body)
	}
	if status, _ := call(t, anon, "DELETE", "sys/generate-root/attempt", nil); status != http.StatusNoContent {
		t.Fatalf("cancel = %d", status)
	}
}
