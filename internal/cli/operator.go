package cli

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// operatorCommand groups the commands that manage the server itself:
// initialisation, sealing and the encryption keyring.
func (e *env) operatorCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "operator",
		Usage: "Initialise, unseal, seal, rotate and rekey the server; generate a root token; raft snapshots; migrate storage",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name:  "init",
				Usage: "Initialise a new server; prints the unseal keys and the root token once",
				Flags: []ucli.Flag{
					&ucli.IntFlag{Name: "key-shares", Value: 5, Usage: "number of unseal key shares"},
					&ucli.IntFlag{Name: "key-threshold", Value: 3, Usage: "shares needed to unseal"},
				},
			}, runInit),
			e.clientCommand(&ucli.Command{
				Name:      "unseal",
				Usage:     "Provide one unseal key share (prompted for without echo when KEY is absent)",
				ArgsUsage: "[KEY | -]",
				Flags:     []ucli.Flag{&ucli.BoolFlag{Name: "reset", Usage: "discard the shares given so far"}},
			}, runUnseal),
			e.clientCommand(&ucli.Command{Name: "seal", Usage: "Seal the server: it forgets its key until unsealed again"}, runSeal),
			e.clientCommand(&ucli.Command{Name: "step-down", Usage: "Make the active node give up leadership so that a standby takes over"}, runStepDown),
			e.clientCommand(&ucli.Command{Name: "rotate", Usage: "Add a new encryption key to the keyring for new writes"}, runRotate),
			e.clientCommand(&ucli.Command{Name: "key-status", Usage: "Print the current encryption key's term and install time"}, runKeyStatus),
			e.rekeyCommand(),
			e.generateRootCommand(),
			e.raftCommand(),
			migrateCommand(),
		},
	}
}

// initOutput is the JSON/YAML shape of operator init, as Vault prints it.
type initOutput struct {
	UnsealKeysB64   []string `json:"unseal_keys_b64"`
	UnsealKeysHex   []string `json:"unseal_keys_hex"`
	UnsealShares    int      `json:"unseal_shares"`
	UnsealThreshold int      `json:"unseal_threshold"`
	RootToken       string   `json:"root_token"`
}

func runInit(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	shares, threshold := s.c.Int("key-shares"), s.c.Int("key-threshold")
	res, err := s.client.Sys().InitWithContext(s.ctx, &api.InitRequest{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		return serverError("initializing", err)
	}
	out := initOutput{UnsealKeysB64: res.KeysB64, UnsealKeysHex: res.Keys,
		UnsealShares: shares, UnsealThreshold: threshold, RootToken: res.RootToken}
	if s.out.format != "table" {
		return s.out.structured(out)
	}
	for i, k := range out.UnsealKeysB64 {
		fmt.Fprintf(s.stdout, "Unseal Key %d: %s\n", i+1, k)
	}
	fmt.Fprintf(s.stdout, "\nInitial Root Token: %s\n\n", out.RootToken)
	fmt.Fprintf(s.stdout, `The server is initialised with %d key shares and a key threshold of %d.
Give each share to a different trusted person and keep them apart: they are
shown only now. Every time the server starts it is sealed, and %d of these
shares are needed to unseal it.

The root token can do anything. Use it to set up policies and other auth
methods, then revoke it.
`, shares, threshold, threshold)
	return nil
}

func runUnseal(s *session) error {
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	var (
		st  *api.SealStatusResponse
		err error
	)
	if s.c.Bool("reset") {
		st, err = s.client.Sys().ResetUnsealProcessWithContext(s.ctx)
	} else {
		var key string
		if key, err = s.secretArg(s.arg(0), "Unseal Key (will be hidden): "); err != nil {
			return usageError("reading the unseal key", err)
		}
		if !validShare(key) {
			return usageErrorf("Error unsealing: the key must be a hex or base64 share as printed by operator init")
		}
		st, err = s.client.Sys().UnsealWithContext(s.ctx, key)
	}
	if err != nil {
		return serverError("unsealing", err)
	}
	if s.out.format != "table" || s.out.field != "" {
		m, err := generic(st)
		if err != nil {
			return err
		}
		return s.out.data(m.(map[string]any))
	}
	return s.out.table(sealRows(st, nil))
}

// validShare checks the share's encoding locally, so a mistyped key is
// never sent, and never echoed in an error.
func validShare(key string) bool {
	if key == "" {
		return false
	}
	if _, err := hex.DecodeString(key); err == nil {
		return true
	}
	_, err := base64.StdEncoding.DecodeString(key)
	return err == nil
}

func runSeal(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	if err := s.client.Sys().SealWithContext(s.ctx); err != nil {
		return serverError("sealing", err)
	}
	return s.success("The server is sealed.")
}

func runRotate(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().WriteWithContext(s.ctx, "sys/rotate", nil)
	if err != nil {
		return serverError("rotating the key", err)
	}
	if err := s.success("Rotated the encryption key.\n"); err != nil {
		return err
	}
	return s.printKeyStatus(sec)
}

func runKeyStatus(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	sec, err := s.client.Logical().ReadWithContext(s.ctx, "sys/key-status")
	if err != nil {
		return serverError("reading the key status", err)
	}
	return s.printKeyStatus(sec)
}

func (s *session) printKeyStatus(sec *api.Secret) error {
	if sec == nil {
		return nil
	}
	if s.out.format != "table" || s.out.field != "" {
		return s.out.secret(sec)
	}
	return s.out.table([]row{
		{"Key Term", sec.Data["term"]},
		{"Install Time", sec.Data["install_time"]},
		{"Encryption Count", sec.Data["encryptions"]},
	})
}
