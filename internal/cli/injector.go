package cli

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/cofferhq/coffer/internal/injector"
)

// injectorCommand runs `coffer injector`, the mutating admission webhook.
func (e *env) injectorCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "injector",
		Usage: "Serve the Kubernetes admission webhook that injects coffer agent containers into annotated pods",
		UsageText: "coffer injector -tls-cert-file=CRT -tls-key-file=KEY -agent-image=IMAGE -coffer-addr=URL [options]\n" +
			"   coffer injector -print-webhook-config -ca-file=CA (-webhook-service=NS/NAME[:PORT] | -webhook-url=URL) [-failure-policy=Fail]",
		Description: "Pods annotated coffer.io/agent-inject: \"true\" (or vault.hashicorp.com/agent-inject) get an\n" +
			"init container that renders their secrets once into /coffer/secrets, and unless\n" +
			"coffer.io/agent-pre-populate-only is true a sidecar that keeps them fresh. See the README's\n" +
			"injector section for the annotations. -print-webhook-config prints the\n" +
			"MutatingWebhookConfiguration to apply, with its failure policy, and exits.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "listen", Value: "0.0.0.0:8443", Usage: "address to serve HTTPS on"},
			&ucli.StringFlag{Name: "tls-cert-file", Usage: "PEM certificate the webhook serves (re-read when it changes)"},
			&ucli.StringFlag{Name: "tls-key-file", Usage: "PEM private key of -tls-cert-file"},
			&ucli.StringFlag{Name: "agent-image", Usage: "image of the injected containers; it must hold the coffer binary"},
			&ucli.StringFlag{Name: "coffer-addr", Usage: "the Coffer server's URL as the pods reach it"},
			&ucli.StringFlag{Name: "coffer-ca-cert", Usage: "path, inside the agent containers, of the CA certificate of the server (default: system roots)"},
			&ucli.StringFlag{Name: "auth-path", Value: injector.DefaultAuthPath, Usage: "kubernetes auth mount the agents log in at"},
			&ucli.StringFlag{Name: "audience", Value: injector.DefaultAudience, Usage: "audience of the projected service-account token"},
			&ucli.DurationFlag{Name: "token-expiration", Value: injector.DefaultTokenExpiration, Usage: "lifetime of the projected token (at least 10m)"},
			&ucli.Int64Flag{Name: "agent-run-as-user", Value: injector.DefaultRunAsUser, Usage: "user ID of the agent containers (never 0)"},
			&ucli.Int64Flag{Name: "agent-run-as-group", Value: injector.DefaultRunAsGroup, Usage: "group ID of the agent containers"},
			&ucli.BoolFlag{Name: "native-sidecar", Usage: "inject the agent as a native sidecar (an init container with restartPolicy Always; Kubernetes 1.29+) unless a pod's agent-native-sidecar annotation says otherwise"},
			&ucli.BoolFlag{Name: "print-webhook-config", Usage: "print the MutatingWebhookConfiguration (YAML) and exit"},
			&ucli.StringFlag{Name: "failure-policy", Value: "Ignore", Usage: "with -print-webhook-config: Ignore (pods start without agents while the injector is down) or Fail (they are refused)"},
			&ucli.StringFlag{Name: "webhook-service", Usage: "with -print-webhook-config: the injector's Service, NAMESPACE/NAME[:PORT]"},
			&ucli.StringFlag{Name: "webhook-url", Usage: "with -print-webhook-config: the injector's URL, https://HOST:PORT/mutate"},
			&ucli.StringFlag{Name: "ca-file", Usage: "with -print-webhook-config: PEM CA that signed -tls-cert-file (the caBundle)"},
			&ucli.StringFlag{Name: "log-level", Value: "info", Usage: "trace, debug, info, warn or error"},
			&ucli.StringFlag{Name: "log-format", Usage: "standard (text) or json"},
		},
		Action: e.runInjector,
	}
}

func (e *env) runInjector(c *ucli.Context) error {
	if c.Bool("print-webhook-config") {
		return printWebhookConfig(c)
	}
	for _, f := range []string{"tls-cert-file", "tls-key-file", "agent-image", "coffer-addr"} {
		if c.String(f) == "" {
			return usageErrorf("injector: -%s is required\n\nRun \"coffer injector -h\" for usage.", f)
		}
	}
	inj, err := injector.New(injector.Config{
		AgentImage: c.String("agent-image"), Address: c.String("coffer-addr"), CACert: c.String("coffer-ca-cert"),
		AuthPath: c.String("auth-path"), Audience: c.String("audience"), TokenExpiration: c.Duration("token-expiration"),
		RunAsUser: c.Int64("agent-run-as-user"), RunAsGroup: c.Int64("agent-run-as-group"),
		NativeSidecar: c.Bool("native-sidecar"),
	})
	if err != nil {
		return usageErrorf("%s", err)
	}
	logger, _, err := newLogger(c.App.ErrWriter, new(slog.LevelVar), c.String("log-level"), c.String("log-format"))
	if err != nil {
		return usageErrorf("injector: %s", err)
	}
	l, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return usageErrorf("injector: listen on %s: %s", c.String("listen"), err)
	}
	logger.Info("coffer injector serving", "address", "https://"+l.Addr().String()+injector.MutatePath)
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = injector.Serve(ctx, l, injector.NewHandler(inj, logger), c.String("tls-cert-file"), c.String("tls-key-file"), logger)
	if err != nil {
		return &exitError{code: exitServer, msg: "Error: injector: " + err.Error()}
	}
	return nil
}

// printWebhookConfig writes the MutatingWebhookConfiguration as YAML.
func printWebhookConfig(c *ucli.Context) error {
	if c.String("ca-file") == "" {
		return usageErrorf("injector: -print-webhook-config needs -ca-file, the CA that signed the webhook's certificate")
	}
	ca, err := os.ReadFile(c.String("ca-file"))
	if err != nil {
		return usageError("reading -ca-file", err)
	}
	o := injector.WebhookOptions{URL: c.String("webhook-url"), CABundle: ca, FailurePolicy: c.String("failure-policy")}
	if svc := c.String("webhook-service"); svc != "" {
		if o.ServiceNamespace, o.ServiceName, o.ServicePort, err = parseService(svc); err != nil {
			return usageErrorf("injector: -webhook-service %q: %s", svc, err)
		}
	}
	wh, err := injector.WebhookConfiguration(o)
	if err != nil {
		return usageErrorf("injector: %s", err)
	}
	out, err := yaml.Marshal(wh)
	if err != nil {
		return fmt.Errorf("encode the webhook configuration: %w", err)
	}
	_, err = c.App.Writer.Write(out)
	return err
}

// parseService reads NAMESPACE/NAME[:PORT].
func parseService(s string) (ns, name string, port int32, err error) {
	ns, rest, ok := strings.Cut(s, "/")
	if !ok || ns == "" || rest == "" {
		return "", "", 0, fmt.Errorf("write NAMESPACE/NAME[:PORT]")
	}
	name, p, hasPort := strings.Cut(rest, ":")
	if hasPort {
		n, perr := strconv.ParseUint(p, 10, 16)
		if perr != nil || n == 0 {
			return "", "", 0, fmt.Errorf("port %q is not a port number", p)
		}
		port = int32(n)
	}
	return ns, name, port, nil
}
