package mission

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/engine/database/dbtest"
	"github.com/cofferhq/coffer/internal/injector"
	"github.com/cofferhq/coffer/test/kubetest"
)

// podRoot is where the injected containers' paths live; the test moves
// them under a temporary directory.
const podRoot = "/coffer"

// injectedRender goes through the real admission path: the injector
// serves HTTPS on loopback, a MutatingWebhookConfiguration (failurePolicy
// Fail, this namespace only) sends pod creations to it, and the annotated
// pod is created through the kube-apiserver, which validates and stores
// the patched pod. The init container's agent configuration, taken from
// the stored pod, then runs with the token the kubelet would project into
// its token volume (a TokenRequest for the pod's service account with the
// volume's audience and lifetime, bound to the pod), and the URL it
// renders connects to PostgreSQL.
func injectedRender(t *testing.T, kc *kubetest.Cluster, db *dbtest.Server, addr, ns string) {
	inj, err := injector.New(injector.Config{AgentImage: "coffer:test", Address: addr})
	must(t, err)
	hostPort, caPEM := kubetest.ServeWebhook(t, func(ctx context.Context, l net.Listener, certFile, keyFile string) error {
		return injector.Serve(ctx, l, injector.NewHandler(inj, nil), certFile, keyFile, nil)
	})
	wh, err := injector.WebhookConfiguration(injector.WebhookOptions{
		Name: ns + ".injector.coffer.io", URL: "https://" + hostPort + injector.MutatePath, CABundle: caPEM, FailurePolicy: "Fail",
	})
	must(t, err)
	wh.Webhooks[0].NamespaceSelector = kubetest.OnlyNamespace(ns)
	kc.CreateMutatingWebhook(t, wh)
	injected := func(p *corev1.Pod) bool { return p.Annotations[injector.StatusAnnotation] == injector.StatusInjected }
	kc.AwaitMutation(t, ns, annotatedPod("probe"), injected)

	pod := createAndGet(t, kc, ns, annotatedPod("web"))
	var init *corev1.Container
	for i, c := range pod.Spec.InitContainers {
		if c.Name == injector.InitContainerName {
			init = &pod.Spec.InitContainers[i]
		}
	}
	if !injected(pod) || init == nil || len(init.Env) != 1 || init.Env[0].Name != injector.ConfigEnv {
		t.Fatalf("the stored pod is not injected: annotations %v, init containers %+v", pod.Annotations, pod.Spec.InitContainers)
	}
	dir := t.TempDir()
	projectToken(t, kc, pod, init, dir)
	src, err := base64.StdEncoding.DecodeString(init.Env[0].Value)
	must(t, err)
	src = []byte(strings.ReplaceAll(string(src), `"`+podRoot+`/`, `"`+dir+`/`))
	cfg, err := config.ParseAgent(src, injector.ConfigEnv)
	if err != nil {
		t.Fatalf("the init container's configuration: %v", err)
	}
	runAgent(t, cfg)
	b, err := os.ReadFile(filepath.Join(dir, "secrets", "db"))
	must(t, err)
	db.LoginURL(t, string(b))
}

// annotatedPod asks for database/creds/app rendered as a connection URL.
func annotatedPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{
			"coffer.io/agent-inject": "true", "coffer.io/role": "app",
			"coffer.io/agent-inject-secret-db":   "database/creds/app",
			"coffer.io/agent-inject-template-db": credsTemplate,
		}},
		Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{
			{Name: "app", Image: "registry.invalid/never-pulled:0"},
		}},
	}
}

// createAndGet creates pod in ns through the API server and reads back
// what it stored.
func createAndGet(t *testing.T, kc *kubetest.Cluster, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kc.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	got, err := kc.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", pod.Name, err)
	}
	return got
}

// projectToken does the kubelet's part for the injector's token volume as
// c mounts it: a token for the pod's service account with the projection's
// audience and lifetime, bound to the pod, written at the projection's
// path under the mount, with the mount moved from podRoot to dir.
func projectToken(t *testing.T, kc *kubetest.Cluster, pod *corev1.Pod, c *corev1.Container, dir string) {
	t.Helper()
	var src *corev1.ServiceAccountTokenProjection
	for _, v := range pod.Spec.Volumes {
		if v.Name == injector.TokenVolumeName && v.Projected != nil && len(v.Projected.Sources) == 1 {
			src = v.Projected.Sources[0].ServiceAccountToken
		}
	}
	var mountPath string
	for _, m := range c.VolumeMounts {
		if m.Name == injector.TokenVolumeName {
			mountPath = m.MountPath
		}
	}
	if src == nil || src.ExpirationSeconds == nil || !strings.HasPrefix(mountPath, podRoot+"/") {
		t.Fatalf("no projected token volume %s mounted under %s: volumes %+v, mounts %+v", injector.TokenVolumeName, podRoot, pod.Spec.Volumes, c.VolumeMounts)
	}
	jwt := kc.Token(t, pod.Namespace, pod.Spec.ServiceAccountName, kubetest.TokenOptions{
		Audiences: []string{src.Audience}, Expiration: time.Duration(*src.ExpirationSeconds) * time.Second, Pod: pod,
	})
	file := filepath.Join(dir, strings.TrimPrefix(mountPath, podRoot), src.Path)
	must(t, os.MkdirAll(filepath.Dir(file), 0o700))
	must(t, os.WriteFile(file, []byte(jwt), 0o600))
}
