package k8sconnect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the Kubernetes side: a client and what Coffer needs to reach
// the same API server.
type Cluster struct {
	// Client is client-go's dynamic client, not the typed clientset:
	// the clientset links every API group's types and registers them all
	// in package init, which every run of the coffer binary (the server
	// included) would pay for in start-up time and resident memory.
	Client dynamic.Interface
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
	client, err := dynamic.NewForConfig(rc)
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

// The resources Connect touches, and the few fields of theirs it reads or
// writes, declared here rather than imported from k8s.io/api (see Cluster).
var (
	serviceAccounts     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	namespaces          = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	clusterRoles        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	clusterRoleBindings = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
)

const rbacAPIVersion = "rbac.authorization.k8s.io/v1"

// policyRule is rbac.authorization.k8s.io/v1 PolicyRule.
type policyRule struct {
	Verbs           []string `json:"verbs"`
	APIGroups       []string `json:"apiGroups,omitempty"`
	Resources       []string `json:"resources,omitempty"`
	ResourceNames   []string `json:"resourceNames,omitempty"`
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
}

// roleRef and subject are the parts of a v1 ClusterRoleBinding.
type roleRef struct {
	APIGroup string `json:"apiGroup"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
}

type subject struct {
	Kind      string `json:"kind"`
	APIGroup  string `json:"apiGroup,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type clusterRole struct {
	Rules []policyRule `json:"rules"`
}

type clusterRoleBinding struct {
	RoleRef  roleRef   `json:"roleRef"`
	Subjects []subject `json:"subjects"`
}

// object builds an Unstructured of apiVersion and kind named name, with
// Connect's labels and the given top-level fields (JSON-shaped values).
func object(apiVersion, kind, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: fields}
	if u.Object == nil {
		u.Object = map[string]any{}
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	u.SetLabels(managedLabels)
	return u
}

// toJSONValue turns a pointer to a small struct into the map/slice form Unstructured holds.
func toJSONValue(v any) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(v)
}

var reviewerRules = []policyRule{{
	APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"},
}}

// reviewer makes sure the reviewer service account exists and may create
// TokenReviews (ReviewerRole), and returns a token for it.
func (c *Cluster) reviewer(ctx context.Context, ns, name string, ttl time.Duration) (string, error) {
	accounts := c.Client.Resource(serviceAccounts).Namespace(ns)
	_, err := accounts.Create(ctx, object("v1", "ServiceAccount", name, nil), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account %s/%s: %w", ns, name, err)
	}
	if err := c.reviewerRole(ctx); err != nil {
		return "", err
	}
	if err := c.reviewerBinding(ctx, ns, name); err != nil {
		return "", err
	}
	// The dynamic client names a subresource's object in the URL from the
	// object's own name; the API server accepts it when it is the account's.
	req := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"expirationSeconds": int64(ttl.Seconds())},
	}}
	tr, err := accounts.Create(ctx, req, metav1.CreateOptions{}, "token")
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", ns, name, err)
	}
	token, _, err := unstructured.NestedString(tr.Object, "status", "token")
	if err != nil || token == "" {
		return "", errors.New("the API server returned an empty reviewer token")
	}
	return token, nil
}

// reviewerRole creates ReviewerRole, or checks that the one there grants
// exactly what it should.
func (c *Cluster) reviewerRole(ctx context.Context) error {
	roles := c.Client.Resource(clusterRoles)
	rules, err := toJSONValue(&clusterRole{Rules: reviewerRules})
	if err != nil {
		return err
	}
	_, err = roles.Create(ctx, object(rbacAPIVersion, "ClusterRole", ReviewerRole, rules), metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cluster role %s: %w", ReviewerRole, err)
	}
	u, err := roles.Get(ctx, ReviewerRole, metav1.GetOptions{})
	var have clusterRole
	if err == nil {
		err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &have)
	}
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
	bindings := c.Client.Resource(clusterRoleBindings)
	bname := ReviewerRole + "-" + ns + "." + name
	want := clusterRoleBinding{
		RoleRef:  roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: ReviewerRole},
		Subjects: []subject{{Kind: "ServiceAccount", Namespace: ns, Name: name}},
	}
	fields, err := toJSONValue(&want)
	if err != nil {
		return err
	}
	_, err = bindings.Create(ctx, object(rbacAPIVersion, "ClusterRoleBinding", bname, fields), metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create cluster role binding %s: %w", bname, err)
	}
	u, err := bindings.Get(ctx, bname, metav1.GetOptions{})
	var have clusterRoleBinding
	if err == nil {
		err = runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &have)
	}
	if err != nil {
		return fmt.Errorf("read cluster role binding %s: %w", bname, err)
	}
	if have.RoleRef != want.RoleRef || !slices.Contains(have.Subjects, want.Subjects[0]) {
		return fmt.Errorf("%w: cluster role binding %s exists but does not bind %s/%s to %s: delete it and run again", ErrInput, bname, ns, name, ReviewerRole)
	}
	return nil
}

// checkWorkload makes sure the workload's namespace exists (a typo would
// otherwise give a role that matches nothing).
func (c *Cluster) checkWorkload(ctx context.Context, ns string) error {
	if _, err := c.Client.Resource(namespaces).Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: namespace %q does not exist in context %q", ErrInput, ns, c.Context)
		}
		return fmt.Errorf("read namespace %s: %w", ns, err)
	}
	return nil
}

// managedLabels mark the objects this command made.
var managedLabels = map[string]string{"app.kubernetes.io/managed-by": "coffer-k8s-connect"}
