package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// callTimeout bounds each API call a helper makes.
const callTimeout = 30 * time.Second

// settleTimeout bounds the wait for the API server's caches (RBAC, service
// accounts, pods) to see a change; they follow etcd within a second or so.
const settleTimeout = time.Minute

// NewNamespace creates a namespace with a unique name derived from the
// test's name, with labels (may be nil), and returns its name. It is not
// deleted afterwards: without a controller-manager a deleted namespace is
// never finalised, and the cluster is thrown away anyway.
func (c *Cluster) NewNamespace(t testing.TB, labels map[string]string) string {
	t.Helper()
	name := UniqueName(t)
	c.CreateNamespace(t, name, labels)
	return name
}

// CreateNamespace creates the namespace name with labels (may be nil).
func (c *Cluster) CreateNamespace(t testing.TB, name string, labels map[string]string) *corev1.Namespace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	return ns
}

// CreateServiceAccount creates the service account ns/name.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	sa, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create service account %s/%s: %v", ns, name, err)
	}
	return sa
}

// DeleteServiceAccount deletes ns/name. The API server's cache may accept
// the account's tokens for a moment longer: follow with
// AwaitTokenRejected before asserting that a login fails.
func (c *Cluster) DeleteServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := c.Client.CoreV1().ServiceAccounts(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("kubetest: delete service account %s/%s: %v", ns, name, err)
	}
}

// CreatePod creates a pod ns/name running as serviceAccount (which must
// exist). Nothing schedules or runs it: it exists only so tokens can be
// bound to it.
func (c *Cluster) CreatePod(t testing.TB, ns, name, serviceAccount string) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	pod, err := c.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			Containers:         []corev1.Container{{Name: "app", Image: "registry.invalid/never-pulled:0"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// DeletePod deletes ns/name at once (it was never scheduled). Tokens bound
// to it may pass a TokenReview for a moment: see AwaitTokenRejected.
func (c *Cluster) DeletePod(t testing.TB, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("kubetest: delete pod %s/%s: %v", ns, name, err)
	}
}

// TokenOptions shape a token from the TokenRequest API.
type TokenOptions struct {
	// Audiences are the token's "aud"; empty means the API server's
	// audiences (its issuer, unless Options.APIAudiences says otherwise).
	Audiences []string
	// Expiration is the requested lifetime; zero means one hour. The API
	// server refuses less than 10 minutes.
	Expiration time.Duration
	// Pod, when set, binds the token to that pod: it stops passing a
	// TokenReview once the pod is deleted.
	Pod *corev1.Pod
}

// Token issues a bound service-account token for ns/serviceAccount
// through the TokenRequest API, as the kubelet would for a projected
// volume, and returns the JWT. The token is a secret: never log it.
func (c *Cluster) Token(t testing.TB, ns, serviceAccount string, opts TokenOptions) string {
	t.Helper()
	return c.TokenRequest(t, ns, serviceAccount, opts).Token
}

// TokenRequest is Token returning the whole TokenRequest status: the JWT
// and its expiry, which the kubelet passes to CSI drivers as they are
// (csi.storage.k8s.io/serviceAccount.tokens is JSON of audience →
// TokenRequestStatus).
func (c *Cluster) TokenRequest(t testing.TB, ns, serviceAccount string, opts TokenOptions) authnv1.TokenRequestStatus {
	t.Helper()
	exp := int64(time.Hour / time.Second)
	if opts.Expiration > 0 {
		exp = int64(opts.Expiration / time.Second)
	}
	req := &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: opts.Audiences, ExpirationSeconds: &exp}}
	if opts.Pod != nil {
		req.Spec.BoundObjectRef = &authnv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: opts.Pod.Name, UID: opts.Pod.UID,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: request a token for %s/%s: %v", ns, serviceAccount, err)
	}
	return resp.Status
}

// ClientFor returns a clientset that authenticates with token, to act as
// a service account (a token reviewer, say) rather than as the admin.
func (c *Cluster) ClientFor(token string) (kubernetes.Interface, error) {
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = token
	return kubernetes.NewForConfig(cfg)
}

// TokenReview asks the API server, as the admin, whether token is valid
// for audiences (empty: the API server's own audiences).
func (c *Cluster) TokenReview(ctx context.Context, token string, audiences []string) (authnv1.TokenReviewStatus, error) {
	return ReviewToken(ctx, c.Client, token, audiences)
}

// ReviewToken creates a TokenReview of token for audiences through client.
func ReviewToken(ctx context.Context, client kubernetes.Interface, token string, audiences []string) (authnv1.TokenReviewStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	r, err := client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return authnv1.TokenReviewStatus{}, err
	}
	return r.Status, nil
}

// AwaitTokenRejected waits until a TokenReview of token fails, as it must
// shortly after its service account or bound pod is deleted, and returns
// the review's error message. It fails the test if that does not happen
// within a minute.
func (c *Cluster) AwaitTokenRejected(t testing.TB, token string, audiences []string) string {
	t.Helper()
	var msg string
	c.poll(t, "a TokenReview to reject the token", func(ctx context.Context) (bool, error) {
		st, err := c.TokenReview(ctx, token, audiences)
		msg = st.Error
		return err == nil && !st.Authenticated, err
	})
	return msg
}

// GrantAuthDelegator binds the ClusterRole system:auth-delegator to the
// service account ns/name, which lets it create TokenReviews (what
// Vault's and Coffer's token_reviewer_jwt needs), and waits until the
// authorizer sees it. The binding is removed when the test ends.
func (c *Cluster) GrantAuthDelegator(t testing.TB, ns, name string) {
	t.Helper()
	c.bindClusterRole(t, "system:auth-delegator", rbacv1.Subject{
		Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name,
	})
	user := "system:serviceaccount:" + ns + ":" + name
	c.poll(t, user+" to be allowed to create tokenreviews", func(ctx context.Context) (bool, error) {
		sar, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
			Spec: authzv1.SubjectAccessReviewSpec{
				User:   user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				ResourceAttributes: &authzv1.ResourceAttributes{
					Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create",
				},
			},
		}, metav1.CreateOptions{})
		return err == nil && sar.Status.Allowed, err
	})
}

// AllowAnonymousDiscovery binds the ClusterRole
// system:service-account-issuer-discovery to unauthenticated callers, so
// anyone can read the OIDC discovery document and the JWKS (what an
// offline validator fetches), and waits until that works. The binding is
// removed when the test ends.
func (c *Cluster) AllowAnonymousDiscovery(t testing.TB) {
	t.Helper()
	c.bindClusterRole(t, "system:service-account-issuer-discovery", rbacv1.Subject{
		Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:unauthenticated",
	})
	hc := c.HTTPClient()
	c.poll(t, "anonymous access to "+DiscoveryPath, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+DiscoveryPath, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// bindClusterRole creates a uniquely named ClusterRoleBinding of role to
// subject and deletes it when the test ends.
func (c *Cluster) bindClusterRole(t testing.TB, role string, subject rbacv1.Subject) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	name := UniqueName(t)
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{subject},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: bind %s: %v", role, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_ = c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// poll polls cond until it reports true, failing the test after
// settleTimeout with the last error.
func (c *Cluster) poll(t testing.TB, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	var lastErr error
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		ok, err := cond(ctx)
		cancel()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: gave up waiting for %s (last error: %v)", what, lastErr)
		}
		time.Sleep(delay)
	}
}

// UniqueName returns a DNS-label name (at most 63 characters) made of the
// test's name and random hex, for objects that must not collide across
// tests sharing a cluster.
func UniqueName(t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	if base == "" {
		base = "t"
	}
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	return fmt.Sprintf("%s-%s", base, hex.EncodeToString(rnd))
}
