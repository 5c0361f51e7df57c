package k8sconnect

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// reviewer makes sure the reviewer service account exists and may create
// TokenReviews (system:auth-delegator), and returns a token for it.
func (c *Cluster) reviewer(ctx context.Context, ns, name string, ttl time.Duration) (string, error) {
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "coffer-auth-delegator-" + ns + "-" + name, Labels: managedLabels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}
	_, err = c.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create cluster role binding %s: %w", crb.Name, err)
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
