package k8sconnect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// ErrInput marks a mistake in the options; the message says which.
var ErrInput = errors.New("invalid k8s connect options")

// Options describe the workload to connect.
type Options struct {
	Namespace      string   // the workload's namespace
	ServiceAccount string   // its service account
	Role           string   // the kubernetes auth role to write
	Policy         string   // the policy the role grants
	Paths          []string // paths the policy lets the workload read; empty: the policy must exist
	AuthPath       string   // the auth mount, default "kubernetes"
	Audience       string   // the token audience, default "coffer"
	TokenTTL       string   // the role's token_ttl, default "1h"
	// ReviewerNamespace and ReviewerName name the token reviewer's
	// service account (default: the workload's namespace,
	// "coffer-token-reviewer"); ReviewerTTL is its token's lifetime
	// (default one year).
	ReviewerNamespace string
	ReviewerName      string
	ReviewerTTL       time.Duration
	// CofferAddress is the server's URL as pods reach it, for the printed
	// SecretProviderClass and annotations.
	CofferAddress string
}

// Result is what Connect did.
type Result struct {
	AuthPath       string
	EnabledMount   bool // the auth method was not mounted before
	WrotePolicy    bool
	ReviewerSA     string // namespace/name
	Options        Options
	ReviewerExpiry time.Time
}

var nameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// Normalize checks the options and fills in the defaults; its errors
// wrap ErrInput and name the flag. Connect calls it.
func (o *Options) Normalize() error {
	for _, f := range [][2]string{{"namespace", o.Namespace}, {"service-account", o.ServiceAccount}, {"role", o.Role}, {"policy", o.Policy}} {
		if f[1] == "" {
			return fmt.Errorf("%w: --%s is required", ErrInput, f[0])
		}
	}
	for flag, v := range map[string]string{"namespace": o.Namespace, "service-account": o.ServiceAccount} {
		if !nameRe.MatchString(v) || len(v) > 253 {
			return fmt.Errorf("%w: --%s %q is not a Kubernetes name", ErrInput, flag, v)
		}
	}
	if o.AuthPath == "" {
		o.AuthPath = "kubernetes"
	}
	o.AuthPath = strings.Trim(strings.TrimPrefix(strings.Trim(o.AuthPath, "/"), "auth/"), "/")
	if o.Audience == "" {
		o.Audience = "coffer"
	}
	if o.TokenTTL == "" {
		o.TokenTTL = "1h"
	}
	if o.ReviewerNamespace == "" {
		o.ReviewerNamespace = o.Namespace
	}
	if o.ReviewerName == "" {
		o.ReviewerName = "coffer-token-reviewer"
	}
	if o.ReviewerTTL == 0 {
		o.ReviewerTTL = 365 * 24 * time.Hour
	}
	if o.ReviewerTTL < 10*time.Minute {
		return fmt.Errorf("%w: --reviewer-token-ttl must be at least 10m", ErrInput)
	}
	for i, p := range o.Paths {
		p = strings.Trim(strings.TrimSpace(p), "/")
		if p == "" || strings.ContainsAny(p, "\"\n\r\\") {
			return fmt.Errorf("%w: --path %q is not a secret path", ErrInput, o.Paths[i])
		}
		o.Paths[i] = p
	}
	return nil
}

// Connect sets up both sides for the workload. It is idempotent: objects
// that exist are kept (Kubernetes) or overwritten with the same values
// (Coffer). coffer must carry a token allowed to manage auth methods and
// policies. The reviewer token goes to Coffer only; it is never returned.
func Connect(ctx context.Context, kube *Cluster, coffer *api.Client, o Options) (*Result, error) {
	if err := o.Normalize(); err != nil {
		return nil, err
	}
	if err := kube.checkWorkload(ctx, o.Namespace); err != nil {
		return nil, err
	}
	if len(o.Paths) == 0 {
		p, err := coffer.Sys().GetPolicyWithContext(ctx, o.Policy)
		if err != nil {
			return nil, fmt.Errorf("read policy %q: %w", o.Policy, err)
		}
		if p == "" {
			return nil, fmt.Errorf("%w: policy %q does not exist: give --path for each secret the workload reads", ErrInput, o.Policy)
		}
	}
	jwt, err := kube.reviewer(ctx, o.ReviewerNamespace, o.ReviewerName, o.ReviewerTTL)
	if err != nil {
		return nil, err
	}
	res := &Result{AuthPath: o.AuthPath, ReviewerSA: o.ReviewerNamespace + "/" + o.ReviewerName,
		ReviewerExpiry: time.Now().Add(o.ReviewerTTL), Options: o}
	if res.EnabledMount, err = enableAuth(ctx, coffer, o.AuthPath); err != nil {
		return nil, err
	}
	cfg := map[string]any{"kubernetes_host": kube.Host, "token_reviewer_jwt": jwt, "disable_local_ca_jwt": true}
	if len(kube.CAPEM) > 0 {
		cfg["kubernetes_ca_cert"] = string(kube.CAPEM)
	}
	if _, err := coffer.Logical().WriteWithContext(ctx, "auth/"+o.AuthPath+"/config", cfg); err != nil {
		return nil, fmt.Errorf("configure auth/%s: %w", o.AuthPath, err)
	}
	if len(o.Paths) > 0 {
		if err := coffer.Sys().PutPolicyWithContext(ctx, o.Policy, policyText(o)); err != nil {
			return nil, fmt.Errorf("write policy %q: %w", o.Policy, err)
		}
		res.WrotePolicy = true
	}
	role := map[string]any{
		"bound_service_account_names":      o.ServiceAccount,
		"bound_service_account_namespaces": o.Namespace,
		"audience":                         o.Audience,
		"token_policies":                   o.Policy,
		"token_ttl":                        o.TokenTTL,
	}
	if _, err := coffer.Logical().WriteWithContext(ctx, "auth/"+o.AuthPath+"/role/"+o.Role, role); err != nil {
		return nil, fmt.Errorf("write role auth/%s/role/%s: %w", o.AuthPath, o.Role, err)
	}
	return res, nil
}

// enableAuth mounts the kubernetes method at path unless something is
// mounted there; another type there is an error.
func enableAuth(ctx context.Context, c *api.Client, path string) (bool, error) {
	mounts, err := c.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return false, fmt.Errorf("list auth methods: %w", err)
	}
	if m, ok := mounts[path+"/"]; ok {
		if m.Type != "kubernetes" {
			return false, fmt.Errorf("%w: auth/%s is a %s method, not kubernetes: choose another --auth-path", ErrInput, path, m.Type)
		}
		return false, nil
	}
	if err := c.Sys().EnableAuthWithOptionsWithContext(ctx, path, &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		return false, fmt.Errorf("enable auth/%s: %w", path, err)
	}
	return true, nil
}

// policyText grants read on each path.
func policyText(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by coffer k8s connect for %s/%s (role %s).\n", o.Namespace, o.ServiceAccount, o.Role)
	for _, p := range o.Paths {
		fmt.Fprintf(&b, "path %s {\n  capabilities = [\"read\"]\n}\n", strconv.Quote(p))
	}
	return b.String()
}
