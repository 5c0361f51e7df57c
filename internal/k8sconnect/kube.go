package k8sconnect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the Kubernetes side: a client and what Coffer needs to reach
// the same API server.
type Cluster struct {
	Client kubernetes.Interface
	// Host is the API server's URL; CAPEM its CA (empty: system roots).
	Host  string
	CAPEM []byte
	// Context is the kubeconfig context used, for messages.
	Context string
}

// LoadCluster reads a kubeconfig as kubectl does (kubeconfig, else
// $KUBECONFIG, else ~/.kube/config) and uses context, or the current one
// when empty.
func LoadCluster(kubeconfig, context string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("read the kubeconfig: %w", err)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube context: %w", err)
	}
	ca, err := caOf(rc)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube client: %w", err)
	}
	name := context
	if name == "" {
		name = raw.CurrentContext
	}
	return &Cluster{Client: client, Host: rc.Host, CAPEM: ca, Context: name}, nil
}

func caOf(rc *rest.Config) ([]byte, error) {
	if len(rc.CAData) > 0 {
		return rc.CAData, nil
	}
	if rc.CAFile != "" {
		b, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the cluster's CA: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// ReviewerRole is the ClusterRole (and the prefix of the bindings) that
// lets a reviewer service account create TokenReviews and nothing else.
// system:auth-delegator would also allow SubjectAccessReviews, which
// Coffer never makes, and the reviewer lives in the workload's namespace
// by default, where anyone who may run pods there can act as it.
const ReviewerRole = "coffer-token-reviewer"

var reviewerRules = []rbacv1.PolicyRule{{
	APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"},
}}

// reviewer makes sure the reviewer service account exists and may create
// TokenReviews (ReviewerRole), and returns a token for it.
func (c *Cluster) reviewer(ctx context.Context, ns, name string, ttl time.Duration) (string, error) {
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	if err := c.reviewerRole(ctx); err != nil {
		return "", err
	}
	if err := c.reviewerBinding(ctx, ns, name); err != nil {
		return "", err
	}
	secs := int64(ttl.Seconds())
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", ns, name, err)
	}
	if tr.Status.Token == "" {
		return "", errors.New("the API server returned an empty reviewer token")
	}
	return tr.Status.Token, nil
}

// reviewerRole creates ReviewerRole, or checks that the one there grants
// exactly what it should.
func (c *Cluster) reviewerRole(ctx context.Context) error {
	roles := c.Client.RbacV1().ClusterRoles()
	_, err := roles.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ReviewerRole, Labels: managedLabels}, Rules: reviewerRules,
	}, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cluster role %s: %w", ReviewerRole, err)
	}
	have, err := roles.Get(ctx, ReviewerRole, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read cluster role %s: %w", ReviewerRole, err)
	}
	if !reflect.DeepEqual(have.Rules, reviewerRules) {
		return fmt.Errorf("%w: cluster role %s exists with other rules than create tokenreviews: delete it and run again", ErrInput, ReviewerRole)
	}
	return nil
}

// reviewerBinding binds ns/name to ReviewerRole, or checks that the
// binding there does. Its name joins the namespace (a DNS label, never
// holding a dot) and the account with a dot, so two accounts never share one.
func (c *Cluster) reviewerBinding(ctx context.Context, ns, name string) error {
	bindings := c.Client.RbacV1().ClusterRoleBindings()
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ReviewerRole + "-" + ns + "." + name, Labels: managedLabels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ReviewerRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}
	_, err := bindings.Create(ctx, crb, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cluster role binding %s: %w", crb.Name, err)
	}
	have, err := bindings.Get(ctx, crb.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read cluster role binding %s: %w", crb.Name, err)
	}
	if have.RoleRef != crb.RoleRef || !slices.Contains(have.Subjects, crb.Subjects[0]) {
		return fmt.Errorf("%w: cluster role binding %s exists but does not bind %s/%s to %s: delete it and run again", ErrInput, crb.Name, ns, name, ReviewerRole)
	}
	return nil
}

// checkWorkload makes sure the workload's namespace exists (a typo would
// otherwise give a role that matches nothing).
func (c *Cluster) checkWorkload(ctx context.Context, ns string) error {
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: namespace %q does not exist in context %q", ErrInput, ns, c.Context)
		}
		return fmt.Errorf("read namespace %s: %w", ns, err)
	}
	return nil
}

// managedLabels mark the objects this command made.
var managedLabels = map[string]string{"app.kubernetes.io/managed-by": "coffer-k8s-connect"}
