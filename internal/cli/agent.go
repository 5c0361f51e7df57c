package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/agent"
	"github.com/cofferhq/coffer/internal/config"
)

// agentCommand runs `coffer agent -config=FILE` (or -config-env=VAR).
func (e *env) agentCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "agent",
		Usage:     "Log in with the workload's identity, render secrets to files and keep them fresh",
		UsageText: "coffer agent -config=FILE [-exit-on-err]\n   coffer agent -config-env=VAR [-exit-on-err]\n   coffer agent -config-env=VAR -rendered",
		Description: "Runs the agent described by an HCL configuration in Vault Agent's shape:\n" +
			"auto_auth (kubernetes, jwt, approle, token_file) with file sinks, template blocks,\n" +
			"template_config, exec, listener \"unix\"/\"tcp\" with cache, exit_after_auth, and\n" +
			"coffer { address … } (vault { … } is accepted too). See the README's agent section.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Usage: "path to the agent's HCL configuration file"},
			&ucli.StringFlag{Name: "config-env", Usage: "name of an environment variable holding the configuration (HCL or JSON), base64-encoded, as the injector passes it"},
			&ucli.BoolFlag{Name: "exit-on-err", Usage: "exit at the first authentication or render error instead of retrying (init containers)"},
			&ucli.BoolFlag{Name: "rendered", Usage: "run no agent: exit 0 when every template's destination exists, 1 naming the first missing (a native sidecar's startup probe)"},
			&ucli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or error (overrides the config file)"},
			&ucli.StringFlag{Name: "log-format", Usage: "standard (text) or json"},
		},
		Action: e.runAgent,
	}
}

func (e *env) runAgent(c *ucli.Context) error {
	path, envName := c.String("config"), c.String("config-env")
	var cfg *config.Agent
	var err error
	switch {
	case path != "" && envName != "":
		return usageErrorf("agent: give -config or -config-env, not both")
	case path != "":
		cfg, err = config.ParseAgentFile(path)
	case envName != "":
		cfg, err = agentConfigFromEnv(e.getenv, envName)
	default:
		return usageErrorf("agent: give -config=FILE, an agent configuration\n\nRun \"coffer agent -h\" for usage.")
	}
	if err != nil {
		return usageErrorf("Error loading the agent configuration: %s", err)
	}
	if c.Bool("rendered") {
		if err := agent.Rendered(cfg); err != nil {
			return usageErrorf("%s", err)
		}
		return nil
	}
	level := cfg.LogLevel
	if c.IsSet("log-level") {
		level = c.String("log-level")
	}
	logger, _, err := newLogger(c.App.ErrWriter, new(slog.LevelVar), level, c.String("log-format"))
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

// maxEnvConfig bounds a configuration passed in the environment.
const maxEnvConfig = 1 << 20

// agentConfigFromEnv parses the base64-encoded configuration in the
// variable name. Messages name the variable, never its content.
func agentConfigFromEnv(getenv func(string) string, name string) (*config.Agent, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil, fmt.Errorf("the environment variable %s is empty or not set", name)
	}
	if len(v) > maxEnvConfig {
		return nil, fmt.Errorf("the environment variable %s is larger than 1 MiB", name)
	}
	src, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("the environment variable %s is not base64 (encode the configuration with base64)", name)
	}
	return config.ParseAgent(src, "$"+name)
}
