package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/csiprovider"
)

// csiProviderCommand runs the Secrets Store CSI driver provider on a unix
// socket until SIGINT or SIGTERM.
func (e *env) csiProviderCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "csi-provider",
		Usage:     "Serve Coffer secrets to pods through the Secrets Store CSI driver",
		UsageText: "coffer csi-provider [-endpoint=" + csiprovider.DefaultEndpoint + "] [-coffer-address=URL]",
		Description: "Answers the driver's Version and Mount calls on a unix socket (provider name \"coffer\").\n" +
			"Each Mount logs in as the pod's service account with the token the driver passes;\n" +
			"SecretProviderClass parameters say where (cofferAddress, authMountPath, roleName) and what (objects).",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "endpoint", Value: csiprovider.DefaultEndpoint, Usage: "unix socket the driver connects to"},
			&ucli.StringFlag{Name: "coffer-address", Usage: "Coffer address for SecretProviderClasses without cofferAddress", EnvVars: []string{"COFFER_ADDR", "VAULT_ADDR"}},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "trace, debug, info, warn or error"},
			&ucli.StringFlag{Name: "log-format", Value: "standard", Usage: "standard (text) or json"},
		},
		Action: func(c *ucli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger, _, err := newLogger(c.App.ErrWriter, new(slog.LevelVar), c.String("log-level"), c.String("log-format"))
			if err != nil {
				return ucli.Exit(err.Error(), 1)
			}
			ln, err := csiprovider.Listen(c.String("endpoint"))
			if err != nil {
				return ucli.Exit("csi-provider: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "==> Coffer CSI provider %q listening on unix://%s\n", csiprovider.Name, c.String("endpoint"))
			p := csiprovider.New(csiprovider.Config{DefaultAddress: c.String("coffer-address"), Version: Version, Logger: logger})
			return csiprovider.Serve(ctx, ln, p)
		},
	}
}
