package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// loginCommand checks a token with the server and stores it for later
// commands. Only the token method exists on the client side for now.
func (e *env) loginCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:      "login",
		Usage:     "Authenticate with a token and store it for later commands",
		ArgsUsage: "[TOKEN | -]",
		Description: "Without TOKEN, prompts for it without echo; with -, reads it from standard input.\n" +
			"The token is checked with auth/token/lookup-self and written to\n" +
			"$XDG_CONFIG_HOME/coffer/token (mode 0600). COFFER_TOKEN, if set, still takes precedence.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "method", Value: "token", Usage: "auth method; only token is supported"},
			&ucli.BoolFlag{Name: "no-store", Usage: "check the token but do not store it"},
		},
	}, runLogin)
}

func runLogin(s *session) error {
	if m := s.c.String("method"); m != "token" {
		return usageErrorf("Unsupported login method %q: only -method=token is available", m)
	}
	if err := s.wantArgs(0, 1); err != nil {
		return err
	}
	token, err := s.secretArg(s.arg(0), "Token (will be hidden): ")
	if err != nil {
		return usageError("reading the token", err)
	}
	if token == "" {
		return usageErrorf("Error: the token is empty")
	}
	s.client.SetToken(token)
	sec, err := s.client.Auth().Token().LookupSelfWithContext(s.ctx)
	if err != nil {
		return serverError("looking up the token", err)
	}
	if !s.c.Bool("no-store") {
		if _, err := writeTokenFile(s.getenv, token); err != nil {
			return usageError("storing the token", err)
		}
	}
	return s.printLogin(sec)
}

// printLogin shows what the token grants, without the token itself.
func (s *session) printLogin(lookup *api.Secret) error {
	auth := lookupAsAuth(lookup)
	shown := &api.Secret{RequestID: lookup.RequestID, Auth: auth, Warnings: lookup.Warnings}
	if s.out.format == "table" && s.out.field == "" {
		fmt.Fprintln(s.stdout, "Success! You are now authenticated. Later coffer commands will use this token.")
		fmt.Fprintln(s.stdout)
	}
	return s.out.secret(shown)
}

// lookupAsAuth reshapes a lookup-self answer into auth fields, minus the
// token, so login prints like Vault's (accessor, duration, policies).
func lookupAsAuth(sec *api.Secret) *api.SecretAuth {
	a := &api.SecretAuth{}
	a.Accessor, _ = sec.TokenAccessor()
	a.Policies, _ = sec.TokenPolicies()
	a.TokenPolicies = a.Policies
	a.Metadata, _ = sec.TokenMetadata()
	a.Renewable, _ = sec.TokenIsRenewable()
	if ttl, err := sec.TokenTTL(); err == nil {
		a.LeaseDuration = int(ttl.Seconds())
	}
	return a
}

// secretArg returns a secret given as an argument, read from standard
// input when it is "-", or prompted for without echo when it is empty.
func (e *env) secretArg(arg, prompt string) (string, error) {
	switch arg {
	case "-":
		b, err := e.readStdin()
		return strings.TrimSpace(string(b)), err
	case "":
		return e.prompt(prompt)
	}
	return arg, nil
}

// prompt asks for a secret on the terminal without echoing it. When
// standard input is not a terminal it reads one line, so scripts can pipe.
func (e *env) prompt(prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		return strings.TrimSpace(string(b)), err
	}
	if e.stdinUsed {
		return "", errStdinTwice
	}
	e.stdinUsed = true
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if line == "" && err != nil {
		return "", errNoTTY
	}
	return strings.TrimSpace(line), nil
}
