package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/openbao/openbao/api/v2"
	ucli "github.com/urfave/cli/v2"
)

// defaultAddress is where a client looks for the server when nothing says
// otherwise. It is HTTPS like Vault's; `coffer server -dev` serves plain HTTP,
// so dev users export COFFER_ADDR=http://127.0.0.1:8200.
const defaultAddress = "https://127.0.0.1:8200"

// env is what every client command shares: the standard streams and the
// environment. Tests substitute all four.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	stdinUsed      bool
}

// firstEnv returns the value of the first named variable that is set and
// not empty, so COFFER_* wins over its VAULT_* fallback.
func (e *env) firstEnv(names ...string) string {
	for _, n := range names {
		if v := e.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// readStdin returns all of standard input; asking twice is an error, since
// the second read would silently see nothing.
func (e *env) readStdin() ([]byte, error) {
	if e.stdinUsed {
		return nil, errStdinTwice
	}
	e.stdinUsed = true
	return io.ReadAll(e.stdin)
}

// connectionFlags are the flags of every command that talks to a server.
// Each falls back to a COFFER_* variable, then to the VAULT_* one, so
// existing Vault setups carry over (see flagOrEnv).
func connectionFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "address", Usage: "server address; env COFFER_ADDR, VAULT_ADDR (default " + defaultAddress + ")"},
		&ucli.StringFlag{Name: "ca-cert", Usage: "PEM file of the CA that signed the server's certificate; env COFFER_CACERT, VAULT_CACERT"},
		&ucli.BoolFlag{Name: "tls-skip-verify", Usage: "do not verify the server's certificate (insecure); env COFFER_SKIP_VERIFY, VAULT_SKIP_VERIFY"},
		&ucli.StringFlag{Name: "wrap-ttl", Usage: "wrap the response in a single-use token living this long (\"60s\", \"5m\"); env COFFER_WRAP_TTL, VAULT_WRAP_TTL"},
	}
}

// outputFlags are the flags of every command that prints a response.
func outputFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "format", Usage: "output format: table, json or yaml; env COFFER_FORMAT, VAULT_FORMAT (default table)"},
		&ucli.StringFlag{Name: "field", Usage: "print only this field's value, raw"},
	}
}

// flagOrEnv returns the flag's value when it was given, else the first set
// variable. The environment is read through env.getenv, not by urfave, so
// tests control it and the precedence lives in one place.
func (e *env) flagOrEnv(c *ucli.Context, flag string, vars ...string) string {
	if c.IsSet(flag) {
		return c.String(flag)
	}
	return e.firstEnv(vars...)
}

// boolFlagOrEnv is flagOrEnv for boolean flags; a variable counts as true
// when strconv.ParseBool says so.
func (e *env) boolFlagOrEnv(c *ucli.Context, flag string, vars ...string) bool {
	if c.IsSet(flag) {
		return c.Bool(flag)
	}
	b, _ := strconv.ParseBool(e.firstEnv(vars...))
	return b
}

// session is one invocation of a client command: its parsed flags, its
// arguments, a configured API client and a printer.
type session struct {
	*env
	c      *ucli.Context
	ctx    context.Context
	args   []string
	client *api.Client
	out    *printer
}

// action is the body of a client command.
type action func(s *session) error

// clientCommand completes cmd with the connection and output flags and an
// Action that builds the session before calling act.
func (e *env) clientCommand(cmd *ucli.Command, act action) *ucli.Command {
	cmd.Flags = append(cmd.Flags, connectionFlags()...)
	cmd.Flags = append(cmd.Flags, outputFlags()...)
	cmd.Action = func(c *ucli.Context) error {
		s, err := e.newSession(c)
		if err != nil {
			return err
		}
		return act(s)
	}
	return cmd
}

func (e *env) newSession(c *ucli.Context) (*session, error) {
	out, err := newPrinter(e.stdout, e.flagOrEnv(c, "format", "COFFER_FORMAT", "VAULT_FORMAT"), c.String("field"))
	if err != nil {
		return nil, err
	}
	client, err := e.newClient(c)
	if err != nil {
		return nil, err
	}
	return &session{env: e, c: c, ctx: c.Context, args: c.Args().Slice(), client: client, out: out}, nil
}

// newClient builds the API client from flags and COFFER_*/VAULT_* variables
// only. The config is constructed explicitly with the library's environment
// reading disabled, so BAO_* variables (and the library's own VAULT_*
// fallbacks) never override what the user set for coffer.
func (e *env) newClient(c *ucli.Context) (*api.Client, error) {
	cfg := api.NewConfig()
	if cfg.Error != nil {
		return nil, usageError("configuring the client", cfg.Error)
	}
	cfg.DisableEnvironment = true
	cfg.Address = e.flagOrEnv(c, "address", "COFFER_ADDR", "VAULT_ADDR")
	if cfg.Address == "" {
		cfg.Address = defaultAddress
	}
	if n := e.firstEnv("COFFER_MAX_RETRIES", "VAULT_MAX_RETRIES"); n != "" {
		retries, err := strconv.Atoi(n)
		if err != nil || retries < 0 {
			return nil, usageErrorf("Error configuring the client: COFFER_MAX_RETRIES must be a non-negative integer")
		}
		cfg.MaxRetries = retries
	}
	tlsCfg := &api.TLSConfig{
		CACert:   e.flagOrEnv(c, "ca-cert", "COFFER_CACERT", "VAULT_CACERT"),
		Insecure: e.boolFlagOrEnv(c, "tls-skip-verify", "COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY"),
	}
	if err := cfg.ConfigureTLS(tlsCfg); err != nil {
		return nil, usageError("configuring TLS", err)
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, usageError("configuring the client", err)
	}
	wrapTTL := e.flagOrEnv(c, "wrap-ttl", "COFFER_WRAP_TTL", "VAULT_WRAP_TTL")
	if wrapTTL != "" {
		if _, err := parseDurationSeconds(wrapTTL); err != nil {
			return nil, usageError("parsing -wrap-ttl", err)
		}
	}
	client.SetWrappingLookupFunc(wrapLookup(wrapTTL))
	token, err := e.token()
	if err != nil {
		return nil, err
	}
	client.SetToken(token)
	return client, nil
}

// token returns the token to send: COFFER_TOKEN, then VAULT_TOKEN, then the
// file written by `coffer login`. No token at all is not an error: some
// endpoints (status, unseal) need none, and the server says when one is due.
func (e *env) token() (string, error) {
	if t := e.firstEnv("COFFER_TOKEN", "VAULT_TOKEN"); t != "" {
		return strings.TrimSpace(t), nil
	}
	t, err := readTokenFile(e.getenv)
	if err != nil {
		return "", usageError("reading the token file", err)
	}
	return t, nil
}

// arg returns the i-th positional argument, or "" when there are fewer.
func (s *session) arg(i int) string {
	if i < len(s.args) {
		return s.args[i]
	}
	return ""
}

// wantArgs fails with a usage error unless the argument count is within
// [min, max]; max < 0 means no upper bound.
func (s *session) wantArgs(min, max int) error {
	n := len(s.args)
	if n < min || (max >= 0 && n > max) {
		return usageErrorf("Incorrect number of arguments (expected %s, got %d)\n\nUsage: %s %s",
			countWord(min, max), n, s.c.Command.HelpName, s.c.Command.ArgsUsage)
	}
	return nil
}

func countWord(min, max int) string {
	switch {
	case max < 0:
		return fmt.Sprintf("at least %d", min)
	case min == max:
		return strconv.Itoa(min)
	}
	return fmt.Sprintf("%d to %d", min, max)
}

// success prints Vault's "Success! …" confirmation, unless a format other
// than table was asked for, where it would break parsers.
func (s *session) success(format string, args ...any) error {
	if s.out.format != "table" {
		return nil
	}
	_, err := fmt.Fprintf(s.stdout, "Success! "+format+"\n", args...)
	return err
}
