// Package cli is the coffer command line: one file per command group. It
// turns arguments, environment and files into calls on the server's HTTP API
// (or, for "server", into a running server) and prints the results the way
// Vault's CLI does, so Vault users and scripts feel at home. It holds no
// server logic and never talks to storage directly.
//
// The client commands use the published OpenBao Go API client, configured
// only from coffer's own flags and COFFER_* variables (with VAULT_*
// fallbacks). `coffer server -dev` listens on plain HTTP, so point clients at
// it with COFFER_ADDR=http://127.0.0.1:8200, as with Vault.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"
)

// Main runs the command line with the process's standard streams and
// environment and returns the exit code: 0 on success, 1 for usage errors,
// 2 for errors returned by the server (Vault's convention). It never calls
// os.Exit itself.
func Main(args []string) int {
	return run(args, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
}

func run(args []string, e *env) int {
	return exitCode(e.stderr, newApp(e).Run(args))
}

func newApp(e *env) *ucli.App {
	app := &ucli.App{
		Name:                      "coffer",
		Usage:                     "a self-hosted secrets manager that speaks Vault's HTTP API",
		Version:                   Version,
		Reader:                    e.stdin,
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		DisableSliceFlagSeparator: true, // -metadata=a=b,c must stay one value
		ExitErrHandler:            func(*ucli.Context, error) {},
		Commands: []*ucli.Command{
			serverCommand(),
			e.agentCommand(),
			e.injectorCommand(),
			e.k8sCommand(),
			benchCommand(),
			benchBareHTTPCommand(),
			e.csiProviderCommand(),
			e.statusCommand(),
			e.operatorCommand(),
			e.loginCommand(),
			e.tokenCommand(),
			e.policyCommand(),
			e.secretsCommand(),
			e.leaseCommand(),
			e.authCommand(),
			e.kvCommand(),
			e.readCommand(),
			e.writeCommand(),
			e.listCommand(),
			e.deleteCommand(),
			e.patchCommand(),
			e.unwrapCommand(),
			e.auditCommand(),
			helpCommand(),
		},
	}
	app.Action = unknownCommand
	ownHelpFlags(app)
	for _, c := range app.Commands {
		setUsageErrors(c)
	}
	return app
}

// ownHelpFlags gives the app its own -h and -v flags, and every command its
// own -h (see setUsageErrors). urfave/cli v2 otherwise appends its one
// package-level HelpFlag and VersionFlag to every app and command and writes
// to them each time it parses flags: a data race whenever two CLIs run in
// one process, as the tests run them. urfave still answers -h itself (it
// looks the flag up by name); -v is answered by the flag's action.
func ownHelpFlags(app *ucli.App) {
	app.HideHelp, app.HideHelpCommand, app.HideVersion = true, true, true
	app.Flags = append(app.Flags, newHelpFlag(), &ucli.BoolFlag{
		Name: "version", Aliases: []string{"v"}, Usage: "print the version",
		Action: func(c *ucli.Context, _ bool) error {
			ucli.ShowVersion(c)
			return &exitError{code: exitOK}
		},
	})
}

func newHelpFlag() ucli.Flag {
	return &ucli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

// unknownCommand is the action of the app and of every command group: with
// no argument it shows the help, with one it is a usage error (exit 1)
// rather than urfave's "No help topic" exit 3.
func unknownCommand(c *ucli.Context) error {
	if c.NArg() == 0 {
		return ucli.ShowSubcommandHelp(c)
	}
	return usageErrorf("Unknown command %q. Run \"%s -h\" for the list of commands.", c.Args().First(), c.Command.HelpName)
}

// helpCommand is the app's own `coffer help [command]`. Without it urfave/cli
// v2 appends its one package-level help command to the app and to every
// command, and writes to it while setting each up: a data race whenever two
// CLIs run in one process, as the tests run them. Commands keep their -h.
func helpCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "Shows a list of commands or help for one command",
		ArgsUsage: "[command]",
		HideHelp:  true,
		Action: func(c *ucli.Context) error {
			if name := c.Args().First(); name != "" {
				return ucli.ShowCommandHelp(c, name)
			}
			return ucli.ShowAppHelp(c)
		},
	}
}

// setUsageErrors makes bad flags exit 1 with one line of explanation on
// every command, instead of urfave's default of printing the whole help.
// It also keeps urfave's shared help command and flag off every command
// (see helpCommand and ownHelpFlags).
func setUsageErrors(c *ucli.Command) {
	c.HideHelp, c.HideHelpCommand = true, true
	c.Flags = append(c.Flags, newHelpFlag())
	if c.OnUsageError == nil {
		c.OnUsageError = func(ctx *ucli.Context, err error, _ bool) error {
			return usageErrorf("%s\n\nRun \"%s -h\" for usage.", err, ctx.Command.HelpName)
		}
	}
	if len(c.Subcommands) > 0 && c.Action == nil {
		c.Action = unknownCommand
	}
	for _, sub := range c.Subcommands {
		setUsageErrors(sub)
	}
}

// exitCode prints err for the user and maps it to an exit code.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
	}
	var coder ucli.ExitCoder
	if errors.As(err, &coder) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return coder.ExitCode()
	}
	fmt.Fprintln(stderr, "Error:", err)
	return exitUsage
}
