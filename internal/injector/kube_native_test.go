package injector

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/test/kubetest"
)

// TestKubeNativeSidecarShapes sends native-sidecar pods of the shapes a
// hostile or careless manifest has through a real kube-apiserver, which
// validates each patched pod: a Job-like pod (restartPolicy Never) that
// already runs a native sidecar of its own, init-first among existing
// init containers, pre-populate off (a sidecar without a startup probe),
// and the injector's agent names taken by the pod (denied as 400).
func TestKubeNativeSidecarShapes(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	url, caPEM := startInjector(t)
	registerWebhook(t, kc, ns, url, caPEM, "Fail")
	awaitWebhook(t, kc, ns)
	always := corev1.ContainerRestartPolicyAlways
	create := func(name string, ann map[string]string, edit func(*corev1.Pod)) (*corev1.Pod, error) {
		p := appPod(name, ann)
		edit(p)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return kc.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	}
	native := func(extra map[string]string) map[string]string {
		ann := cofferAnnotations()
		ann["coffer.io/agent-native-sidecar"] = "true"
		for k, v := range extra {
			ann[k] = v
		}
		return ann
	}
	t.Run("job with its own sidecar, init first", func(t *testing.T) {
		got, err := create("job", native(map[string]string{"vault.hashicorp.com/agent-init-first": "true"}), func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "mesh", Image: "mesh:1", RestartPolicy: &always})
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := names(got.Spec.InitContainers); len(n) != 3 || n[0] != SidecarContainerName {
			t.Fatalf("init containers %v, want the agent first", n)
		}
	})
	t.Run("pre-populate off", func(t *testing.T) {
		got, err := create("noprobe", native(map[string]string{"coffer.io/agent-pre-populate": "false"}), func(*corev1.Pod) {})
		if err != nil {
			t.Fatal(err)
		}
		_, c := findContainer(got.Spec.InitContainers, SidecarContainerName)
		if c == nil || c.RestartPolicy == nil || c.StartupProbe != nil {
			t.Fatalf("native sidecar %+v", c)
		}
	})
	t.Run("name taken", func(t *testing.T) {
		_, err := create("taken", native(nil), func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: SidecarContainerName, Image: "x:1", RestartPolicy: &always})
		})
		if err == nil || !strings.Contains(err.Error(), `already has a container named "coffer-agent"`) {
			t.Fatalf("create = %v, want a denial naming the container", err)
		}
	})
}
