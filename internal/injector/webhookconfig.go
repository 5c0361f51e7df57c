package injector

import (
	"errors"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultWebhookName is the name of the MutatingWebhookConfiguration and
// of its one webhook.
const DefaultWebhookName = "coffer-agent-injector.coffer.io"

// WebhookOptions describe where the API server reaches the injector and
// what happens when it cannot.
type WebhookOptions struct {
	// Name defaults to DefaultWebhookName.
	Name string
	// URL is https://host:port/mutate, for an injector outside the
	// cluster; otherwise ServiceNamespace/ServiceName/ServicePort.
	URL              string
	ServiceNamespace string
	ServiceName      string
	ServicePort      int32
	// CABundle is the PEM of the CA that signed the injector's
	// certificate.
	CABundle []byte
	// FailurePolicy is "Ignore" (pods are created without agents while
	// the injector is down; the default) or "Fail" (they are refused).
	FailurePolicy string
	// ExcludeNamespaces are never sent to the webhook; kube-system and
	// kube-public always are excluded, and so is ServiceNamespace, so the
	// injector never blocks its own pods.
	ExcludeNamespaces []string
	// TimeoutSeconds defaults to 10.
	TimeoutSeconds int32
}

// WebhookConfiguration returns the MutatingWebhookConfiguration that
// sends pod creations to the injector.
func WebhookConfiguration(o WebhookOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	if o.Name == "" {
		o.Name = DefaultWebhookName
	}
	policy, err := failurePolicy(o.FailurePolicy)
	if err != nil {
		return nil, err
	}
	if len(o.CABundle) == 0 {
		return nil, errors.New("webhook: a CA bundle (PEM) is required")
	}
	client := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	excluded := []string{"kube-system", "kube-public"}
	switch {
	case o.URL != "" && o.ServiceName != "":
		return nil, errors.New("webhook: give a URL or a service, not both")
	case o.URL != "":
		if !strings.HasPrefix(o.URL, "https://") {
			return nil, fmt.Errorf("webhook: URL %q must start with https://", o.URL)
		}
		client.URL = &o.URL
	case o.ServiceName != "" && o.ServiceNamespace != "":
		path, port := MutatePath, o.ServicePort
		if port == 0 {
			port = 443
		}
		client.Service = &admissionregistrationv1.ServiceReference{
			Namespace: o.ServiceNamespace, Name: o.ServiceName, Path: &path, Port: &port,
		}
		excluded = append(excluded, o.ServiceNamespace)
	default:
		return nil, errors.New("webhook: give the injector's URL or its service namespace and name")
	}
	timeout := o.TimeoutSeconds
	if timeout == 0 {
		timeout = 10
	}
	sideEffects := admissionregistrationv1.SideEffectClassNone
	reinvoke := admissionregistrationv1.NeverReinvocationPolicy
	match := admissionregistrationv1.Equivalent
	scope := admissionregistrationv1.NamespacedScope
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         o.Name,
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scope,
				},
			}},
			FailurePolicy: &policy,
			MatchPolicy:   &match,
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
				Values: append(excluded, o.ExcludeNamespaces...),
			}}},
			SideEffects:             &sideEffects,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      &reinvoke,
		}},
	}, nil
}

// failurePolicy reads "Ignore" or "Fail" (any case); empty is Ignore.
func failurePolicy(s string) (admissionregistrationv1.FailurePolicyType, error) {
	switch strings.ToLower(s) {
	case "", "ignore":
		return admissionregistrationv1.Ignore, nil
	case "fail":
		return admissionregistrationv1.Fail, nil
	}
	return "", fmt.Errorf("webhook: failure policy %q must be Ignore or Fail", s)
}
