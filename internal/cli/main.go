// Package cli is the coffer command line: one file per command group. It
// turns arguments, environment and files into calls on the server's HTTP API
// (or, for "server", into a running server) and prints the results the way
// Vault's CLI does. It holds no server logic.
package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"
)

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	app := &ucli.App{
		Name:     "coffer",
		Usage:    "a self-hosted secrets manager",
		Commands: []*ucli.Command{serverCommand()},
	}
	if err := app.Run(args); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 2
	}
	return 0
}
