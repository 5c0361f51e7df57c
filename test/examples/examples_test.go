// Package examples tests the manifests in examples/ as a user would use
// them, against real parts: the kube-apiserver of test/kubetest (which
// validates every object, the SecretProviderClass against the driver's own
// CRD, and sends pods through the injector webhook), PostgreSQL (dbtest)
// and an in-process Coffer server behind its HTTP API, joined to the
// cluster by `coffer k8s connect`'s code. No kubelet or controller-manager
// runs: the test creates the pod each Deployment would get, and plays the
// CSI driver (a Mount call with the stored SecretProviderClass) and the
// kubelet (running the injected init container's agent configuration).
package examples

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/csiprovider/csitest"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/injector"
	"github.com/cofferhq/coffer/internal/k8sconnect"
	"github.com/cofferhq/coffer/internal/testserver"
	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain stops the throwaway database servers and the shared
// kube-apiserver the tests may have started.
func TestMain(m *testing.M) {
	os.Exit(dbtest.Main(runFunc(func() int { return kubetest.Main(m) })))
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

// chartDevAddress is the coffer chart's dev server URL for a release
// "coffer" in namespace "coffer", which the examples name.
const chartDevAddress = "http://coffer.coffer.svc:8200"

// TestExamples applies each example into a fresh namespace joined to Coffer
// as the README says (role web for the service account web, reading
// database/creds/app), and follows a pod of each Deployment to a
// connection URL that logs in to PostgreSQL.
func TestExamples(t *testing.T) {
	kc := kubetest.Shared(t)
	db := dbtest.Postgres(t)
	ns := kc.NewNamespace(t, nil)
	srv := testserver.Start(t, testserver.Options{ClusterName: "examples"})
	addr, root := srv.URL, srv.Root
	enableDatabase(t, root, db)
	kc.Apply(t, ns, load(t, "testdata/secretproviderclasses-crd.yaml")...)

	csiObjs := kc.Apply(t, ns, load(t, "../../examples/csi-postgres.yaml")...)
	cluster, err := k8sconnect.LoadCluster(kc.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := k8sconnect.Connect(ctx, cluster, root, k8sconnect.Options{
		Namespace: ns, ServiceAccount: "web", Role: "web", Policy: "web-db", Paths: []string{"database/creds/app"},
	}); err != nil {
		t.Fatalf("coffer k8s connect: %v", err)
	}

	t.Run("csi", func(t *testing.T) { testCSI(t, kc, db, ns, addr, csiObjs) })
	t.Run("injector", func(t *testing.T) { testInjector(t, kc, db, ns, addr) })
}

// testCSI: the Deployment's pod is accepted with its CSI volume, and a
// Mount with the stored SecretProviderClass's parameters, as the driver
// sends them for that pod, gives the file the app reads: a URL that logs in.
func testCSI(t *testing.T, kc *kubetest.Cluster, db *dbtest.Server, ns, addr string, stored []*unstructured.Unstructured) {
	dep := typed[appsv1.Deployment](t, find(t, stored, "Deployment"))
	pod := createPodFrom(t, kc, ns, dep, dep.Name+"-1")
	spc := find(t, stored, "SecretProviderClass")
	var mountPath string
	for _, v := range pod.Spec.Volumes {
		if v.CSI != nil && v.CSI.Driver == "secrets-store.csi.k8s.io" && v.CSI.VolumeAttributes["secretProviderClass"] == spc.GetName() {
			mountPath = mountOf(pod.Spec.Containers[0], v.Name)
		}
	}
	if mountPath == "" {
		t.Fatalf("the pod mounts no CSI volume of SecretProviderClass %s: %+v", spc.GetName(), pod.Spec.Volumes)
	}
	params, _, err := unstructured.NestedStringMap(spc.Object, "spec", "parameters")
	if err != nil || spc.Object["spec"].(map[string]any)["provider"] != csiprovider.Name {
		t.Fatalf("stored SecretProviderClass: %v %+v", err, spc.Object["spec"])
	}
	if params["cofferAddress"] != chartDevAddress {
		t.Errorf("cofferAddress %q, want the chart's dev server %s", params["cofferAddress"], chartDevAddress)
	}
	params["cofferAddress"] = addr // the in-cluster name does not resolve here
	jwt := kc.Token(t, ns, pod.Spec.ServiceAccountName, kubetest.TokenOptions{Audiences: []string{params["audience"]}, Pod: pod})
	tokens, _ := json.Marshal(map[string]any{params["audience"]: map[string]string{
		"token": jwt, "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}})
	params["csi.storage.k8s.io/pod.name"], params["csi.storage.k8s.io/pod.namespace"] = pod.Name, ns
	params["csi.storage.k8s.io/pod.uid"], params["csi.storage.k8s.io/serviceAccount.name"] = string(pod.UID), pod.Spec.ServiceAccountName
	params["csi.storage.k8s.io/serviceAccount.tokens"], params["secretProviderClass"] = string(tokens), spc.GetName()
	attrs, _ := json.Marshal(params)

	cl := csitest.Serve(t, csiprovider.New(csiprovider.Config{}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cl.Mount(ctx, &v1alpha1.MountRequest{Attributes: string(attrs), Permission: "420", TargetPath: t.TempDir()})
	if err != nil {
		t.Fatalf("Mount with the example's SecretProviderClass: %v", err)
	}
	for _, f := range resp.GetFiles() {
		if p := mountPath + "/" + f.GetPath(); strings.Contains(strings.Join(pod.Spec.Containers[0].Args, " "), p) {
			db.LoginURL(t, string(f.GetContents()))
			return
		}
	}
	t.Fatalf("no mounted file is what the app reads (%q under %s)", pod.Spec.Containers[0].Args, mountPath)
}

// testInjector: with the injector registered for the namespace, the
// Deployment's pod comes back from the API server with the agents; its
// init container's agent configuration, run with the pod's token, writes
// the file the app reads: a URL that logs in.
func testInjector(t *testing.T, kc *kubetest.Cluster, db *dbtest.Server, ns, addr string) {
	url, caPEM := startInjector(t, addr)
	objs := load(t, "../../examples/injector-postgres.yaml")
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment"))
	registerWebhook(t, kc, ns, url, caPEM, dep)
	kc.Apply(t, ns, objs...)
	pod := createPodFrom(t, kc, ns, dep, dep.Name+"-1")

	if pod.Annotations[injector.StatusAnnotation] != injector.StatusInjected {
		t.Fatalf("the pod was not injected: annotations %v", pod.Annotations)
	}
	init := container(pod.Spec.InitContainers, injector.InitContainerName)
	if init == nil || container(pod.Spec.Containers, injector.SidecarContainerName) == nil {
		t.Fatalf("init containers %d, containers %d: no agents", len(pod.Spec.InitContainers), len(pod.Spec.Containers))
	}
	app := container(pod.Spec.Containers, "app")
	want := injector.SecretsDir + "/db-url"
	if mountOf(*app, injector.SecretsVolumeName) != injector.SecretsDir || !strings.Contains(strings.Join(app.Args, " "), want) {
		t.Fatalf("the app does not read %s from the secrets volume: mounts %+v args %q", want, app.VolumeMounts, app.Args)
	}
	i := slices.IndexFunc(init.Env, func(e corev1.EnvVar) bool { return e.Name == injector.ConfigEnv })
	if i < 0 {
		t.Fatalf("the init container has no %s", injector.ConfigEnv)
	}
	src, err := base64.StdEncoding.DecodeString(init.Env[i].Value)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // the pod's /coffer/… paths, moved here
	src = []byte(strings.ReplaceAll(string(src), `"/coffer/`, `"`+dir+`/`))
	cfg, err := config.ParseAgent(src, injector.ConfigEnv)
	if err != nil {
		t.Fatalf("the init container's configuration: %v", err)
	}
	jwt := kc.Token(t, ns, pod.Spec.ServiceAccountName, kubetest.TokenOptions{Audiences: []string{injector.DefaultAudience}, Pod: pod})
	if err := os.MkdirAll(filepath.Join(dir, "token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token", "token"), []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	runAgent(t, cfg)
	b, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(want, "/coffer/")))
	if err != nil {
		t.Fatal(err)
	}
	db.LoginURL(t, string(b))
}

// registerWebhook points the API server at the injector for pods of ns
// only, and waits until a dry run of dep's pod comes back injected (the
// API server loads webhook configurations asynchronously).
func registerWebhook(t *testing.T, kc *kubetest.Cluster, ns, url string, caPEM []byte, dep *appsv1.Deployment) {
	t.Helper()
	wh, err := injector.WebhookConfiguration(injector.WebhookOptions{Name: ns + ".injector.coffer.io", URL: url, CABundle: caPEM, FailurePolicy: "Fail"})
	if err != nil {
		t.Fatal(err)
	}
	wh.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	api := kc.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	create := func(ctx context.Context) error {
		_, err := api.Create(ctx, wh, metav1.CreateOptions{})
		return err
	}
	if err := withTimeout(create); err != nil {
		t.Fatalf("create webhook configuration: %v", err)
	}
	t.Cleanup(func() {
		_ = withTimeout(func(ctx context.Context) error {
			return api.Delete(ctx, wh.Name, metav1.DeleteOptions{})
		})
	})
	probe := podFrom(dep, "probe")
	kc.CreateServiceAccount(t, ns, probe.Spec.ServiceAccountName+"-probe")
	probe.Spec.ServiceAccountName += "-probe" // the example's own account is applied later
	deadline := time.Now().Add(time.Minute)
	for {
		var got *corev1.Pod
		err := withTimeout(func(ctx context.Context) (err error) {
			got, err = kc.Client.CoreV1().Pods(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
		if err == nil && got.Annotations[injector.StatusAnnotation] == injector.StatusInjected {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook is not called a minute after its registration (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createPodFrom creates the pod the Deployment's ReplicaSet would, and
// reads back what the API server stored.
func createPodFrom(t *testing.T, kc *kubetest.Cluster, ns string, dep *appsv1.Deployment, name string) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	err := withTimeout(func(ctx context.Context) error {
		if _, err := kc.Client.CoreV1().Pods(ns).Create(ctx, podFrom(dep, name), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		var err error
		got, err = kc.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("pod %s of Deployment %s: %v", name, dep.Name, err)
	}
	return got
}

func podFrom(dep *appsv1.Deployment, name string) *corev1.Pod {
	tmpl := dep.Spec.Template.DeepCopy()
	tmpl.ObjectMeta.Name = name
	return &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
}

func withTimeout(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f(ctx)
}

// load decodes a manifest file.
func load(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.DecodeManifests(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s", kind)
	return nil
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &v
}

func container(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// mountOf returns where c mounts the volume, or "".
func mountOf(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}
