package k8sconnect

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/test/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// startCoffer runs a real core behind the real HTTP API, initialised and
// unsealed, with KV v2 at secret/, and returns a root client.
func startCoffer(t *testing.T) (*api.Client, string) {
	t.Helper()
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Version: "test", ClusterName: "k8sconnect",
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
	})
	ts := httptest.NewServer(httpapi.New(co, httpapi.Options{}))
	t.Cleanup(func() {
		ts.Close()
		_ = co.Seal(context.Background())
	})
	c := client(t, ts.URL, "")
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if _, err := c.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatalf("unseal: %v", err)
	}
	c.SetToken(init.RootToken)
	if err := c.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount secret/: %v", err)
	}
	for _, p := range []string{"secret/data/app", "secret/data/other"} {
		if _, err := c.Logical().Write(p, map[string]any{"data": map[string]any{"url": "postgres://db/app"}}); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
	}
	return c, ts.URL
}

func client(t *testing.T, url, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.MaxRetries = url, 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// TestKubeConnect runs Connect against a real kube-apiserver (through a
// kubeconfig, as the command does) and a real Coffer server, then logs in
// as the workload with a TokenRequest token: the TokenReview goes through
// the reviewer Connect created, and the token reads only the given path.
func TestKubeConnect(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	kc.CreateServiceAccount(t, ns, "other")
	root, url := startCoffer(t)
	kube, err := LoadCluster(kc.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	if kube.Host != kc.URL || string(kube.CAPEM) != string(kc.CAPEM) || kube.Context != "kubetest" {
		t.Fatalf("cluster from kubeconfig = %s %q", kube.Host, kube.Context)
	}
	ctx := context.Background()
	o := Options{Namespace: ns, ServiceAccount: "app", Role: "web", Policy: "web-read",
		Paths: []string{"secret/data/app"}, CofferAddress: "https://coffer.coffer.svc:8200"}
	res, err := Connect(ctx, kube, root, o)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if !res.EnabledMount || !res.WrotePolicy || res.ReviewerSA != ns+"/coffer-token-reviewer" {
		t.Errorf("result = %+v", res)
	}
	crb, err := kc.Client.RbacV1().ClusterRoleBindings().Get(ctx, ReviewerRole+"-"+ns+".coffer-token-reviewer", metav1.GetOptions{})
	if err != nil || crb.RoleRef.Name != ReviewerRole || crb.Subjects[0].Name != "coffer-token-reviewer" {
		t.Fatalf("cluster role binding = %+v, %v", crb, err)
	}
	t.Cleanup(func() {
		_ = kc.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
	})
	// The reviewer lives in the workload's namespace, where the workload's
	// team can run pods as it: it may review tokens and nothing else (not
	// the SubjectAccessReviews of system:auth-delegator, which would let
	// that team ask what anyone in the cluster may do).
	rc, err := kc.ClientFor(kc.Token(t, ns, "coffer-token-reviewer", kubetest.TokenOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: "system:admin",
		ResourceAttributes: &authzv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "kube-system"}}}
	if _, err := rc.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the reviewer created a SubjectAccessReview: %v, want forbidden", err)
	}

	login := func(sa string) (*api.Secret, error) {
		jwt := kc.Token(t, ns, sa, kubetest.TokenOptions{Audiences: []string{"coffer"}})
		return client(t, url, "").Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": jwt})
	}
	sec, err := login("app")
	if err != nil || sec.Auth == nil {
		t.Fatalf("login as the workload: %v", err)
	}
	app := client(t, url, sec.Auth.ClientToken)
	if got, err := app.Logical().Read("secret/data/app"); err != nil || got == nil {
		t.Errorf("read the granted path: %v", err)
	}
	if _, err := app.Logical().Read("secret/data/other"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("read another path: %v, want permission denied", err)
	}
	if _, err := login("other"); err == nil {
		t.Error("another service account logged in as the workload's role")
	}

	// Again: nothing to enable, the same objects, no error.
	res, err = Connect(ctx, kube, root, o)
	if err != nil || res.EnabledMount {
		t.Fatalf("second Connect: %+v, %v", res, err)
	}
	if _, err := login("app"); err != nil {
		t.Errorf("login after the second Connect: %v", err)
	}

	spc, ann := res.SecretProviderClass(), res.Annotations()
	for _, want := range []string{"provider: coffer", `roleName: "web"`, "namespace: " + ns, `objectName: "app"`, `secretPath: "secret/data/app"`, `cofferAddress: "https://coffer.coffer.svc:8200"`} {
		if !strings.Contains(spc, want) {
			t.Errorf("SecretProviderClass lacks %q:\n%s", want, spc)
		}
	}
	for _, want := range []string{`coffer.io/agent-inject: "true"`, `coffer.io/role: "web"`, `coffer.io/agent-inject-secret-app: "secret/data/app"`} {
		if !strings.Contains(ann, want) {
			t.Errorf("annotations lack %q:\n%s", want, ann)
		}
	}
}

// TestKubeConnectRefuses: mistakes are ErrInput with the flag named, and
// nothing is created for them.
func TestKubeConnectRefuses(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	root, _ := startCoffer(t)
	kube, err := LoadCluster(kc.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	base := Options{Namespace: ns, ServiceAccount: "app", Role: "web", Policy: "p", Paths: []string{"secret/data/app"}}
	cases := map[string]struct {
		edit func(*Options)
		want string
	}{
		"no namespace":      {func(o *Options) { o.Namespace = "" }, "--namespace is required"},
		"missing namespace": {func(o *Options) { o.Namespace = "no-such-ns" }, `namespace "no-such-ns" does not exist`},
		"bad account":       {func(o *Options) { o.ServiceAccount = "App_1" }, "not a Kubernetes name"},
		"no such policy":    {func(o *Options) { o.Paths = nil }, `policy "p" does not exist`},
		"bad path":          {func(o *Options) { o.Paths = []string{`a"b`} }, "not a secret path"},
	}
	for name, tc := range cases {
		o := base
		o.Paths = append([]string(nil), base.Paths...)
		tc.edit(&o)
		if _, err := Connect(context.Background(), kube, root, o); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInput with %q", name, err, tc.want)
		}
	}
	if _, err := kc.Client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "coffer-token-reviewer", metav1.GetOptions{}); err == nil {
		t.Error("a refused connect created the reviewer")
	}
	if _, err := LoadCluster(kc.Kubeconfig, "nosuch"); err == nil {
		t.Error("an unknown context was accepted")
	}
}

func TestObjectNames(t *testing.T) {
	got := strings.Join(objectNames([]string{"secret/data/app", "database/creds/app", "kv/a b", "x/*"}), ",")
	if got != "app,app-2,a-b,secret" {
		t.Errorf("objectNames = %s", got)
	}
}
