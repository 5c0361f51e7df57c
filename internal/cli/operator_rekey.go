package cli

import (
	"fmt"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// rekeyCommand is `operator rekey`, Vault's command of the same name: it
// replaces the unseal key shares (and may change their number and
// threshold) with a quorum of the current ones, through the
// unauthenticated sys/rekey/* endpoints.
func (e *env) rekeyCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:      "rekey",
		Usage:     "Replace the unseal key shares, given a threshold of the current ones",
		ArgsUsage: "[KEY | -]",
		Description: `Start with -init (and -key-shares, -key-threshold, -verify), then give one
current share per call: as the argument, as - to read it from standard input
(both need -nonce), or at the prompt. The last share prints the new shares.
With -verify they take effect only once a threshold of them has been given
back with "operator rekey -verify".`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "init", Usage: "start a rekey"},
			&ucli.BoolFlag{Name: "cancel", Usage: "cancel the rekey in progress (with -verify: restart its verification)"},
			&ucli.BoolFlag{Name: "status", Usage: "print the progress of the rekey (with -verify: of its verification)"},
			&ucli.IntFlag{Name: "key-shares", Aliases: []string{"n"}, Value: 5, Usage: "number of new key shares"},
			&ucli.IntFlag{Name: "key-threshold", Aliases: []string{"t"}, Value: 3, Usage: "new shares needed to unseal"},
			&ucli.StringFlag{Name: "nonce", Usage: "nonce of the operation, needed with a share given as argument or on standard input"},
			&ucli.BoolFlag{Name: "verify", Usage: "with -init: require the new shares to be given back before they take effect; otherwise act on that verification"},
			&ucli.StringFlag{Name: "target", Value: "barrier", Usage: "what to rekey: only barrier (the unseal key) exists"},
			&ucli.StringFlag{Name: "pgp-keys", Usage: "not supported: Coffer hands out shares unencrypted"},
			&ucli.BoolFlag{Name: "backup", Usage: "not supported: there are no PGP-encrypted shares to back up"},
			&ucli.BoolFlag{Name: "backup-retrieve", Usage: "read backed-up shares (there never are any; needs sudo)"},
			&ucli.BoolFlag{Name: "backup-delete", Usage: "delete backed-up shares (there never are any; needs sudo)"},
		},
	}, runRekey)
}

func runRekey(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	switch {
	case s.c.String("target") != "barrier":
		return usageErrorf("Unknown target %q: this server has no recovery keys; only -target=barrier exists", s.c.String("target"))
	case s.c.String("pgp-keys") != "" || s.c.Bool("backup"):
		return usageErrorf("Error initializing rekey: PGP-encrypted key shares and their backup are not supported")
	case s.c.Bool("backup-delete"):
		if err := s.client.Sys().RekeyDeleteBackupWithContext(s.ctx); err != nil {
			return serverError("deleting rekey stored keys", err)
		}
		return s.success("Deleted stored keys (if they existed)")
	case s.c.Bool("backup-retrieve"):
		if _, err := s.client.Sys().RekeyRetrieveBackupWithContext(s.ctx); err != nil {
			return serverError("retrieving rekey stored keys", err)
		}
		return nil
	case s.c.Bool("cancel"):
		return rekeyCancel(s)
	case s.c.Bool("init"):
		return rekeyInit(s)
	case s.c.Bool("status"):
		return rekeyStatus(s)
	}
	return rekeyProvide(s)
}

func rekeyInit(s *session) error {
	st, err := s.client.Sys().RekeyInitWithContext(s.ctx, &api.RekeyInitRequest{
		SecretShares:        s.c.Int("key-shares"),
		SecretThreshold:     s.c.Int("key-threshold"),
		RequireVerification: s.c.Bool("verify"),
	})
	if err != nil {
		return serverError("initializing rekey", err)
	}
	if s.out.format == "table" {
		fmt.Fprint(s.stderr, `WARNING! The new key shares are shown once, when the last current share is
given, and nothing can recover them afterwards. Have their holders ready.

`)
	}
	return s.printRekeyStatus(st)
}

func rekeyCancel(s *session) error {
	if s.c.Bool("verify") {
		if err := s.client.Sys().RekeyVerificationCancelWithContext(s.ctx); err != nil {
			return serverError("restarting rekey verification", err)
		}
		return s.success("Restarted the verification of the rekey: the verification nonce has changed")
	}
	if err := s.client.Sys().RekeyCancelWithContext(s.ctx); err != nil {
		return serverError("canceling rekey", err)
	}
	return s.success("Canceled rekeying (if it was started)")
}

func rekeyStatus(s *session) error {
	if s.c.Bool("verify") {
		vs, err := s.client.Sys().RekeyVerificationStatusWithContext(s.ctx)
		if err != nil {
			return serverError("reading rekey verification status", err)
		}
		return s.printVerifyStatus(vs)
	}
	st, err := s.client.Sys().RekeyStatusWithContext(s.ctx)
	if err != nil {
		return serverError("reading rekey status", err)
	}
	return s.printRekeyStatus(st)
}

// rekeyProvide gives one share to the rekey, or with -verify to its
// verification, prompting for it when no argument names it.
func rekeyProvide(s *session) error {
	verify := s.c.Bool("verify")
	var started bool
	var nonce string
	if verify {
		vs, err := s.client.Sys().RekeyVerificationStatusWithContext(s.ctx)
		if err != nil {
			return serverError("getting rekey verification status", err)
		}
		started, nonce = vs.Started, vs.Nonce
	} else {
		st, err := s.client.Sys().RekeyStatusWithContext(s.ctx)
		if err != nil {
			return serverError("getting rekey status", err)
		}
		started, nonce = st.Started, st.Nonce
	}
	if !started {
		return usageErrorf("No rekey is in progress. Start one with \"coffer operator rekey -init\".")
	}
	key, nonce, err := s.shareAndNonce(nonce, "Rekey operation nonce: ", "Unseal Key (will be hidden): ")
	if err != nil {
		return err
	}
	if verify {
		res, err := s.client.Sys().RekeyVerificationUpdateWithContext(s.ctx, key, nonce)
		if err != nil {
			return serverError("posting unseal key", err)
		}
		if !res.Complete {
			return rekeyStatus(s)
		}
		if s.out.format != "table" {
			return s.out.structured(res)
		}
		_, err = fmt.Fprintln(s.stdout, "Rekey verification successful. The rekey is complete and the new key shares are now in force.")
		return err
	}
	res, err := s.client.Sys().RekeyUpdateWithContext(s.ctx, key, nonce)
	if err != nil {
		return serverError("posting unseal key", err)
	}
	if !res.Complete {
		return rekeyStatus(s)
	}
	return s.printNewShares(res)
}

// shareAndNonce reads the share from the argument, standard input ("-") or
// a prompt. With a prompt the operation's nonce is shown and used, as
// Vault's CLI does; otherwise -nonce must name it.
func (s *session) shareAndNonce(current, noncePrompt, keyPrompt string) (string, string, error) {
	arg := s.arg(0)
	nonce := s.c.String("nonce")
	if arg == "" {
		fmt.Fprintf(s.stderr, "%s%s\n", noncePrompt, current)
		nonce = current
	}
	key, err := s.secretArg(arg, keyPrompt)
	if err != nil {
		return "", "", usageError("reading the unseal key", err)
	}
	key = strings.TrimSpace(key)
	if !validShare(key) {
		return "", "", usageErrorf("Error posting unseal key: the key must be a hex or base64 share")
	}
	if nonce == "" {
		return "", "", usageErrorf("Missing nonce value: specify it via the -nonce flag")
	}
	return key, nonce, nil
}

func (s *session) printRekeyStatus(st *api.RekeyStatusResponse) error {
	if s.out.format != "table" || s.out.field != "" {
		return s.printGeneric(st)
	}
	rows := []row{{"Nonce", st.Nonce}, {"Started", st.Started}}
	if st.Started {
		progress := fmt.Sprintf("%d/%d", st.Progress, st.Required)
		if st.VerificationNonce != "" {
			progress += " (verification in progress)"
		}
		rows = append(rows, row{"Rekey Progress", progress}, row{"New Shares", st.N},
			row{"New Threshold", st.T}, row{"Verification Required", st.VerificationRequired})
		if st.VerificationNonce != "" {
			rows = append(rows, row{"Verification Nonce", st.VerificationNonce})
		}
	}
	return s.out.table(rows)
}

func (s *session) printVerifyStatus(vs *api.RekeyVerificationStatusResponse) error {
	if s.out.format != "table" || s.out.field != "" {
		return s.printGeneric(vs)
	}
	return s.out.table([]row{
		{"Started", vs.Started}, {"New Shares", vs.N}, {"New Threshold", vs.T},
		{"Verification Nonce", vs.Nonce}, {"Verification Progress", fmt.Sprintf("%d/%d", vs.Progress, vs.T)},
	})
}

// printNewShares prints the shares the last current share returned, once.
func (s *session) printNewShares(res *api.RekeyUpdateResponse) error {
	if s.out.format != "table" {
		return s.out.structured(res)
	}
	fmt.Fprintln(s.stdout)
	for i, k := range res.KeysB64 {
		fmt.Fprintf(s.stdout, "Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(s.stdout, "\nOperation nonce: %s\n\n", res.Nonce)
	st, err := s.client.Sys().RekeyStatusWithContext(s.ctx)
	if err != nil {
		return serverError("reading rekey status", err)
	}
	if !res.VerificationRequired {
		_, err = fmt.Fprintf(s.stdout, `The unseal key has been replaced: %d new key shares, %d of which unseal the
server from now on. Give each share to a different trusted person; the old
shares no longer work.
`, len(res.KeysB64), st.Required)
		return err
	}
	fmt.Fprintf(s.stdout, `A new unseal key has been made and split into the %d shares above. They are
NOT in force yet: %d of them must be given back with
"coffer operator rekey -verify" first. Until then keep the current shares; a
cancel or a seal before verification discards the new ones.

`, st.N, st.T)
	vs, err := s.client.Sys().RekeyVerificationStatusWithContext(s.ctx)
	if err != nil {
		return serverError("reading rekey verification status", err)
	}
	return s.printVerifyStatus(vs)
}

// printGeneric prints a response struct as JSON/YAML, or one field of it.
func (s *session) printGeneric(v any) error {
	m, err := generic(v)
	if err != nil {
		return err
	}
	return s.out.data(m.(map[string]any))
}
