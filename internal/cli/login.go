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

// loginCommand logs in and stores the token for later commands: with a
// token (the default method, checked with lookup-self), or through any
// mounted auth method whose login takes key=value arguments (jwt, oidc,
// kubernetes, approle, userpass), as Vault's CLI does.
func (e *env) loginCommand() *ucli.Command {
	return e.clientCommand(&ucli.Command{
		Name:      "login",
		Usage:     "Authenticate with a token or an auth method and store the token for later commands",
		ArgsUsage: "[TOKEN | -] | -method=TYPE [K=V... | @FILE | -]",
		Description: "With -method=token (the default): without TOKEN, prompts for it without echo; with -,\n" +
			"reads it from standard input; the token is checked with auth/token/lookup-self.\n" +
			"With another method, the K=V arguments (key=@file and key=- read a value from a file or\n" +
			"standard input) are written to auth/<path>/login, <path> being -path or the method's name;\n" +
			"userpass takes username=NAME password=... as Vault's CLI does.\n" +
			"The token is written to $XDG_CONFIG_HOME/coffer/token (mode 0600). COFFER_TOKEN, if set,\n" +
			"still takes precedence.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "method", Value: "token", Usage: "auth method: token, or the type of a mounted method (jwt, kubernetes, approle, userpass…)"},
			&ucli.StringFlag{Name: "path", Usage: "mount path of the auth method (default: the method's name)"},
			&ucli.BoolFlag{Name: "no-store", Usage: "log in but do not store the token"},
		},
	}, runLogin)
}

func runLogin(s *session) error {
	if m := s.c.String("method"); m != "token" {
		return runMethodLogin(s, m)
	}
	if s.c.String("path") != "" {
		return usageErrorf("-path applies to auth methods other than token")
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

// runMethodLogin writes the arguments to the method's login path and
// stores the token it returns. The token is printed, as Vault does, since
// the caller has no other way to learn it.
func runMethodLogin(s *session, method string) error {
	mount := strings.Trim(s.c.String("path"), "/")
	if mount == "" {
		mount = method
	}
	if strings.ContainsAny(method, "/ ") || mount == "" {
		return usageErrorf("Invalid -method %q", method)
	}
	data, err := s.parseData(s.args)
	if err != nil {
		return usageError("parsing arguments", err)
	}
	path := "auth/" + mount + "/login"
	if method == "userpass" || method == "ldap" {
		user, _ := data["username"].(string)
		if user == "" {
			return usageErrorf("Missing username=NAME for -method=%s", method)
		}
		delete(data, "username")
		path += "/" + user
	}
	s.client.SetToken("")
	sec, err := s.client.Logical().WriteWithContext(s.ctx, path, data)
	if err != nil {
		return serverError("authenticating", err)
	}
	if sec != nil && sec.WrapInfo != nil {
		// Logged in wrapped (-wrap-ttl): the token is for whoever unwraps
		// it, so nothing is stored.
		return s.out.secret(sec)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return &exitError{code: exitServer, msg: "Error authenticating: " + path + " returned no token"}
	}
	if !s.c.Bool("no-store") {
		if _, err := writeTokenFile(s.getenv, sec.Auth.ClientToken); err != nil {
			return usageError("storing the token", err)
		}
	}
	if s.out.format == "table" && s.out.field == "" {
		fmt.Fprintln(s.stdout, "Success! You are now authenticated. Later coffer commands will use this token.")
		fmt.Fprintln(s.stdout)
	}
	return s.out.secret(sec)
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
