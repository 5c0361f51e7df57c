package cli

import (
	"errors"
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/k8sconnect"
)

// k8sCommand groups the Kubernetes set-up commands.
func (e *env) k8sCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "k8s",
		Usage: "Connect Kubernetes workloads to Coffer",
		Subcommands: []*ucli.Command{
			e.clientCommand(&ucli.Command{
				Name:  "connect",
				Usage: "Set up the kubernetes auth method, a policy and a role for one workload, and print how pods use them",
				UsageText: "coffer k8s connect --namespace N --service-account SA --role R --policy P [--path PATH …]\n" +
					"   [--kubeconfig FILE] [--context C] [--auth-path kubernetes] [--audience coffer]",
				Description: "Uses the current kube context (or --context): creates the token reviewer service\n" +
					"account bound to coffer-token-reviewer (create TokenReviews only), enables and configures auth/<auth-path>\n" +
					"for that API server, writes policy P (read on each --path) and role R bound to N/SA,\n" +
					"then prints the SecretProviderClass and the injector's pod annotations. Running it\n" +
					"again updates the same objects.",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "namespace", Usage: "the workload's namespace"},
					&ucli.StringFlag{Name: "service-account", Usage: "the workload's service account"},
					&ucli.StringFlag{Name: "role", Usage: "name of the kubernetes auth role to write"},
					&ucli.StringFlag{Name: "policy", Usage: "name of the policy the role grants"},
					&ucli.StringSliceFlag{Name: "path", Usage: "a secret path the workload reads (repeat); the policy grants read on each. Without any, the policy must exist"},
					&ucli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)"},
					&ucli.StringFlag{Name: "context", Usage: "kube context (default: the current one)"},
					&ucli.StringFlag{Name: "auth-path", Value: "kubernetes", Usage: "mount path of the kubernetes auth method"},
					&ucli.StringFlag{Name: "audience", Value: "coffer", Usage: "audience the workload's tokens carry"},
					&ucli.StringFlag{Name: "token-ttl", Value: "1h", Usage: "TTL of the Coffer tokens the role issues"},
					&ucli.StringFlag{Name: "reviewer-namespace", Usage: "namespace of the token reviewer service account (default: --namespace)"},
					&ucli.StringFlag{Name: "reviewer-service-account", Value: "coffer-token-reviewer", Usage: "name of the token reviewer service account"},
					&ucli.DurationFlag{Name: "reviewer-token-ttl", Value: 365 * 24 * time.Hour, Usage: "lifetime of the reviewer's token (run connect again before it ends)"},
					&ucli.StringFlag{Name: "coffer-addr-in-cluster", Usage: "the server's URL as pods reach it, for the printed manifests (default: the address used here)"},
				},
			}, runK8sConnect),
		},
	}
}

func runK8sConnect(s *session) error {
	if err := s.wantArgs(0, 0); err != nil {
		return err
	}
	c := s.c
	o := k8sconnect.Options{
		Namespace: c.String("namespace"), ServiceAccount: c.String("service-account"),
		Role: c.String("role"), Policy: c.String("policy"), Paths: c.StringSlice("path"),
		AuthPath: c.String("auth-path"), Audience: c.String("audience"), TokenTTL: c.String("token-ttl"),
		ReviewerNamespace: c.String("reviewer-namespace"), ReviewerName: c.String("reviewer-service-account"),
		ReviewerTTL: c.Duration("reviewer-token-ttl"), CofferAddress: c.String("coffer-addr-in-cluster"),
	}
	if o.CofferAddress == "" {
		o.CofferAddress = s.client.Address()
	}
	if err := o.Normalize(); err != nil {
		return usageErrorf("%s", err)
	}
	kube, err := k8sconnect.LoadCluster(c.String("kubeconfig"), c.String("context"))
	if err != nil {
		return usageError("loading the kube context", err)
	}
	res, err := k8sconnect.Connect(s.ctx, kube, s.client, o)
	switch {
	case errors.Is(err, k8sconnect.ErrInput):
		return usageErrorf("%s", err)
	case err != nil:
		return serverError("connecting the workload", err)
	}
	w := s.env.stdout
	o = res.Options
	fmt.Fprintf(w, "Connected %s/%s (kube context %q, API server %s):\n", o.Namespace, o.ServiceAccount, kube.Context, kube.Host)
	if res.EnabledMount {
		fmt.Fprintf(w, "  enabled auth/%s (kubernetes)\n", res.AuthPath)
	}
	fmt.Fprintf(w, "  configured auth/%s/config with reviewer %s (coffer-token-reviewer; its token ends %s)\n",
		res.AuthPath, res.ReviewerSA, res.ReviewerExpiry.UTC().Format("2006-01-02"))
	if res.WrotePolicy {
		fmt.Fprintf(w, "  wrote policy %s (read on %d paths)\n", o.Policy, len(o.Paths))
	}
	fmt.Fprintf(w, "  wrote role auth/%s/role/%s\n\n", res.AuthPath, o.Role)
	fmt.Fprintf(w, "# Secrets Store CSI driver:\n%s---\n# Or the injector:\n%s", res.SecretProviderClass(), res.Annotations())
	return nil
}
