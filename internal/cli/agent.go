package cli

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
)

// agentCommand runs `coffer agent -config=FILE`.
func agentCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "agent",
		Usage:     "Log in with the workload's identity, render secrets to files and keep them fresh",
		UsageText: "coffer agent -config=FILE [-exit-on-err]",
		Description: "Runs the agent described by an HCL configuration in Vault Agent's shape:\n" +
			"auto_auth (kubernetes, jwt, approle, token_file) with file sinks, template blocks,\n" +
			"template_config, exec, listener \"unix\"/\"tcp\" with cache, exit_after_auth, and\n" +
			"coffer { address … } (vault { … } is accepted too). See the README's agent section.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Usage: "path to the agent's HCL configuration file"},
			&ucli.BoolFlag{Name: "exit-on-err", Usage: "exit at the first authentication or render error instead of retrying (init containers)"},
			&ucli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or error (overrides the config file)"},
			&ucli.StringFlag{Name: "log-format", Usage: "standard (text) or json"},
		},
		Action: runAgent,
	}
}

func runAgent(c *ucli.Context) error {
	path := c.String("config")
	if path == "" {
		return usageErrorf("agent: give -config=FILE, an agent configuration\n\nRun \"coffer agent -h\" for usage.")
	}
	cfg, err := config.ParseAgentFile(path)
	if err != nil {
		return usageErrorf("Error loading the agent configuration: %s", err)
	}
	level := cfg.LogLevel
	if c.IsSet("log-level") {
		level = c.String("log-level")
	}
	logger, err := newLogger(c.App.ErrWriter, new(slog.LevelVar), level, c.String("log-format"))
	if err != nil {
		return usageErrorf("agent: %s", err)
	}
	a, err := agent.New(cfg, agent.Options{
		Logger: logger, ExitOnErr: c.Bool("exit-on-err"),
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter,
	})
	if err != nil {
		return usageErrorf("Error starting the agent: %s", err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = a.Run(ctx)
	var ce *agent.ChildExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return &exitError{code: ce.Code}
	}
	return &exitError{code: exitServer, msg: "Error: " + err.Error()}
}
