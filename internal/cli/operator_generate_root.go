package cli

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/roottoken"
)

// generateRootCommand is `operator generate-root`, Vault's command of the
// same name: a quorum of unseal key share holders mints a new root token
// through the unauthenticated sys/generate-root/* endpoints, so it works
// after the last root token was revoked. The token comes back encoded with
// a one-time password (OTP) and -decode turns it into the token.
func (e *env) generateRootCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:      "generate-root",
		Usage:     "Generate a new root token from a threshold of unseal key shares",
		ArgsUsage: "[KEY | -]",
		Description: `Start with -init: the server prints an OTP to keep. Then give one share per
call: as the argument, as - to read it from standard input (both need
-nonce), or at the prompt. The last share prints the encoded token; decode it
with -decode=ENCODED -otp=OTP (-decode=- reads it from standard input).`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "init", Usage: "start a root token generation"},
			&ucli.BoolFlag{Name: "cancel", Usage: "cancel the generation in progress"},
			&ucli.BoolFlag{Name: "status", Usage: "print the progress of the generation"},
			&ucli.StringFlag{Name: "decode", Usage: "decode this encoded token (- reads it from standard input); needs -otp"},
			&ucli.StringFlag{Name: "otp", Usage: "with -decode: the OTP the generation used; with -init: an OTP of your own (the legacy form)"},
			&ucli.BoolFlag{Name: "generate-otp", Usage: "print a new OTP of the right length, for -init -otp"},
			&ucli.StringFlag{Name: "nonce", Usage: "nonce of the generation, needed with a share given as argument or on standard input"},
			&ucli.StringFlag{Name: "pgp-key", Usage: "not supported: the token is encoded with an OTP"},
		},
	}, runGenerateRoot)
}

func runGenerateRoot(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	switch {
	case s.c.String("pgp-key") != "":
		return usageErrorf("Error initializing root generation: PGP encryption of the root token is not supported; use the OTP")
	case s.c.Bool("generate-otp"):
		return generateOTP(s)
	case s.c.IsSet("decode"):
		return decodeRoot(s)
	case s.c.Bool("cancel"):
		if _, err := s.rootGen(http.MethodDelete, "attempt", nil); err != nil {
			return serverError("canceling root token generation", err)
		}
		return s.success("Root token generation canceled (if it was started)")
	case s.c.Bool("init"):
		st, err := s.rootGen(http.MethodPut, "attempt", map[string]any{"otp": s.c.String("otp")})
		if err != nil {
			return serverError("initializing root generation", err)
		}
		return s.printRootGen(st)
	case s.c.Bool("status"):
		st, err := s.rootGen(http.MethodGet, "attempt", nil)
		if err != nil {
			return serverError("getting root generation status", err)
		}
		return s.printRootGen(st)
	}
	return provideRootShare(s)
}

// rootGen calls sys/generate-root/<path>, Vault's unauthenticated form,
// which the OpenBao client no longer wraps, and decodes its bare answer.
func (s *session) rootGen(method, path string, body map[string]any) (*api.GenerateRootStatusResponse, error) {
	r := s.client.NewRequest(method, "/v1/sys/generate-root/"+path)
	if body != nil {
		if err := r.SetJSONBody(body); err != nil {
			return nil, err
		}
	}
	resp, err := s.client.RawRequestWithContext(s.ctx, r)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	var st api.GenerateRootStatusResponse
	if resp.StatusCode == http.StatusNoContent {
		return &st, nil
	}
	if err := resp.DecodeJSON(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

func generateOTP(s *session) error {
	n := roottoken.OTPLength
	if st, err := s.rootGen(http.MethodGet, "attempt", nil); err == nil && st.OTPLength > 0 {
		n = st.OTPLength // the server's own token length, should it differ
	}
	otp, err := roottoken.GenerateOTP(n)
	if err != nil {
		return usageError("generating an OTP", err)
	}
	if s.out.format != "table" {
		return s.out.structured(map[string]any{"otp": otp, "otp_length": len(otp)})
	}
	_, err = fmt.Fprintln(s.stdout, otp)
	return err
}

// decodeRoot decodes locally: the encoded token and the OTP never travel.
func decodeRoot(s *session) error {
	enc, otp := s.c.String("decode"), s.c.String("otp")
	if enc == "" {
		return usageErrorf("Missing encoded value: use -decode=<string> to supply it")
	}
	if otp == "" {
		return usageErrorf("Missing otp: use -otp to supply it")
	}
	if enc == "-" {
		b, err := s.readStdin()
		if err != nil {
			return usageError("reading the encoded token", err)
		}
		if enc = strings.TrimSpace(string(b)); enc == "" {
			return usageErrorf("Missing encoded value. When using -decode=\"-\" value must be passed via stdin.")
		}
	}
	token, err := roottoken.Decode(enc, otp)
	if err != nil {
		return usageError("decoding root token", err)
	}
	if s.out.format != "table" || s.out.field != "" {
		return s.out.data(map[string]any{"token": token})
	}
	_, err = fmt.Fprintln(s.stdout, token)
	return err
}

func provideRootShare(s *session) error {
	st, err := s.rootGen(http.MethodGet, "attempt", nil)
	if err != nil {
		return serverError("getting root generation status", err)
	}
	if !st.Started {
		return usageErrorf("No root generation is in progress. Start one with \"coffer operator generate-root -init\".")
	}
	key, nonce, err := s.shareAndNonce(st.Nonce, "Operation nonce: ", "Unseal Key (will be hidden): ")
	if err != nil {
		return err
	}
	st, err = s.rootGen(http.MethodPut, "update", map[string]any{"key": key, "nonce": nonce})
	if err != nil {
		return serverError("posting unseal key", err)
	}
	return s.printRootGen(st)
}

func (s *session) printRootGen(st *api.GenerateRootStatusResponse) error {
	if s.out.format != "table" || s.out.field != "" {
		return s.printGeneric(st)
	}
	rows := []row{
		{"Nonce", st.Nonce}, {"Started", st.Started},
		{"Progress", fmt.Sprintf("%d/%d", st.Progress, st.Required)}, {"Complete", st.Complete},
	}
	if st.EncodedToken != "" {
		rows = append(rows, row{"Encoded Token", st.EncodedToken})
	}
	if st.OTP != "" {
		fmt.Fprint(s.stderr, `A one-time password (OTP) has been generated for you and is shown in the OTP
field. You need it to decode the new root token, so keep it safe.

`)
		rows = append(rows, row{"OTP", st.OTP})
	}
	if st.OTPLength != 0 {
		rows = append(rows, row{"OTP Length", st.OTPLength})
	}
	return s.out.table(rows)
}
