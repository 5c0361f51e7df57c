package csiprovider_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/test/kubetest"
)

const kubeObjects = `
- {objectName: db-url, secretPath: database/creds/app, secretKey: connection_url}
- {objectName: db-user, secretPath: database/creds/app, secretKey: username}
- {objectName: api-key, secretPath: secret/data/app/api, secretKey: key}
`

// TestMountKubernetes logs in through the kubernetes auth method (at its
// default path) with a real pod-bound service-account token issued by a
// real kube-apiserver (TokenRequest) and checked by TokenReview: the pod
// gets a KV secret and a PostgreSQL URL that connects. Another service
// account's token is refused naming the role, and so is the pod's token
// once the pod is deleted.
func TestMountKubernetes(t *testing.T) {
	t.Parallel()
	kc := kubetest.Shared(t)
	db := dbtest.Postgres(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "reviewer")
	kc.GrantAuthDelegator(t, ns, "reviewer")
	reviewer := kc.Token(t, ns, "reviewer", kubetest.TokenOptions{Expiration: 24 * time.Hour})
	kc.CreateServiceAccount(t, ns, "app")
	kc.CreateServiceAccount(t, ns, "other")
	pod := kc.CreatePod(t, ns, "web", "app")
	jwt := kc.Token(t, ns, "app", kubetest.TokenOptions{Audiences: []string{"coffer"}, Pod: pod})

	c := startCoffer(t, false)
	must(t, c.Root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}))
	c.write(t, "auth/kubernetes/config", map[string]any{"kubernetes_host": kc.URL, "kubernetes_ca_cert": string(kc.CAPEM), "token_reviewer_jwt": reviewer, "disable_local_ca_jwt": true})
	c.write(t, "auth/kubernetes/role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": ns,
		"audience": "coffer", "token_policies": "app", "token_ttl": "1h",
	})
	enableDatabase(t, c, db, "1h")
	c.putKV(t, "app/api", map[string]any{"key": "from-kube"})
	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{DefaultAddress: c.URL}))

	params := map[string]string{ // no cofferAddress (the provider's default) and no authMountPath (kubernetes)
		"roleName": "app", "audience": "coffer", "objects": kubeObjects,
		"csi.storage.k8s.io/pod.name": pod.Name, "csi.storage.k8s.io/pod.namespace": ns,
		"csi.storage.k8s.io/pod.uid": string(pod.UID), "csi.storage.k8s.io/serviceAccount.name": "app",
	}
	mount := func(tokens map[string]string, p map[string]string) (*v1alpha1.MountResponse, error) {
		return cl.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: attrs(t, p, tokens), Permission: "420"})
	}
	r, err := mount(map[string]string{"coffer": jwt}, params)
	if err != nil {
		t.Fatalf("Mount with the pod's token: %v", err)
	}
	f := files(t, r)
	db.CleanupUsers(t, f["db-user"])
	if f["api-key"] != "from-kube" || f["db-user"] == "" || !strings.Contains(f["db-url"], f["db-user"]) {
		t.Fatalf("files = %v", f)
	}
	if err := db.Login(f["db-url"]); err != nil {
		t.Fatalf("connect with the mounted URL: %v", err)
	}

	other := kc.Token(t, ns, "other", kubetest.TokenOptions{Audiences: []string{"coffer"}})
	otherParams := map[string]string{"csi.storage.k8s.io/pod.uid": "other-pod", "csi.storage.k8s.io/serviceAccount.name": "other"}
	for k, v := range params {
		if _, ok := otherParams[k]; !ok {
			otherParams[k] = v
		}
	}
	if _, err := mount(map[string]string{"coffer": other}, otherParams); csiprovider.CodeOf(err) != csiprovider.CodePermissionDenied || !strings.Contains(err.Error(), `role "app"`) {
		t.Fatalf("another service account: %v", err)
	}

	kc.DeletePod(t, ns, pod.Name)
	kc.AwaitTokenRejected(t, jwt, []string{"coffer"})
	params["csi.storage.k8s.io/pod.uid"] = "a-new-mount" // not the deleted pod's cached login
	if _, err := mount(map[string]string{"coffer": jwt}, params); csiprovider.CodeOf(err) != csiprovider.CodePermissionDenied {
		t.Fatalf("the deleted pod's token: %v", err)
	}
}
