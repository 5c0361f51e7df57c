package e2e

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
	obroot "github.com/openbao/openbao/sdk/v2/helper/roottoken"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
)

// TestRekeyAndGenerateRootLogsHoldNoSecrets runs a verified rekey, a
// failed and a successful root generation with debug logging, and checks
// that no share (old or new), OTP, encoded or decoded token reaches the log.
func TestRekeyAndGenerateRootLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	co := core.New(core.Config{Physical: inmem.New(), Logger: logger, Engines: registry.Engines(), AuthMethods: registry.AuthMethods()})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{Logger: logger}))
	defer ts.Close()
	c := newClient(t, ts.URL, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range init.Keys[:2] {
		if _, err := c.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	secrets := map[string]string{"root token": init.RootToken}
	for i, k := range init.Keys {
		secrets["old share "+k[:4]] = k
		secrets["old share b64 "+k[:4]] = init.KeysB64[i]
	}
	st, err := c.Sys().RekeyInit(&api.RekeyInitRequest{SecretShares: 3, SecretThreshold: 2, RequireVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Sys().RekeyUpdate(init.Keys[0], "wrong nonce")
	var up *api.RekeyUpdateResponse
	for _, k := range init.Keys[:2] {
		if up, err = c.Sys().RekeyUpdate(k, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range up.Keys {
		secrets["new share "+k[:4]] = k
		secrets["new share b64 "+k[:4]] = up.KeysB64[i]
	}
	_, _ = c.Sys().RekeyVerificationUpdate(init.Keys[2], up.VerificationNonce) // a wrong share, counted
	_, _ = c.Sys().RekeyVerificationUpdate(init.Keys[1], up.VerificationNonce) // and a failed verification
	vs, _ := c.Sys().RekeyVerificationStatus()
	for _, k := range up.Keys[:2] {
		if _, err := c.Sys().RekeyVerificationUpdate(k, vs.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	_, gen := call(t, c, "PUT", "sys/generate-root/attempt", map[string]any{})
	otp, _ := gen["otp"].(string)
	nonce, _ := gen["nonce"].(string)
	_, _ = call(t, c, "PUT", "sys/generate-root/update", map[string]any{"key": init.Keys[0], "nonce": nonce})
	_, _ = call(t, c, "PUT", "sys/generate-root/update", map[string]any{"key": init.Keys[1], "nonce": nonce}) // old shares: refused
	var done map[string]any
	for _, k := range up.Keys[1:3] {
		_, done = call(t, c, "PUT", "sys/generate-root/update", map[string]any{"key": k, "nonce": nonce})
	}
	enc, _ := done["encoded_token"].(string)
	token, err := obroot.DecodeToken(enc, otp, len(otp))
	if err != nil || enc == "" {
		t.Fatalf("generate-root did not complete: %v %v", done, err)
	}
	secrets["otp"], secrets["encoded token"], secrets["generated token"] = otp, enc, token
	out := logs.String()
	for _, want := range []string{"rekey started", "rekey verified and complete", "root token generated"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log lacks %q; is it captured? %q", want, out)
		}
	}
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the log", name)
		}
	}
}
