package cli

import (
	"errors"

	ucli "github.com/urfave/cli/v2"
)

// serverCommand runs the Coffer server. Placeholder until the core lands.
func serverCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "server",
		Usage: "Run the Coffer server",
		Action: func(*ucli.Context) error {
			return errors.New("server: not implemented yet")
		},
	}
}
