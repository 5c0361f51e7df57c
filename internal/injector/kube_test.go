package injector

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/test/kubetest"
)

// TestMain shares one real kube-apiserver (test/kubetest) among the
// tests of this package that ask for it.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// TestKubeInjection goes through a real kube-apiserver: the injector
// serves on loopback with a certificate of a fresh CA, a
// MutatingWebhookConfiguration with a url clientConfig and that CA bundle
// sends pod creations to it, and the pods read back are checked. The API
// server also validates every patched pod, so a patch it would refuse
// (a bad token lifetime, a duplicate mount) fails here.
func TestKubeInjection(t *testing.T) {
	kc := kubetest.Shared(t)
	ns := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, ns, "app")
	url, caPEM := startInjector(t)
	registerWebhook(t, kc, ns, url, caPEM, "Fail")
	awaitWebhook(t, kc, ns)

	t.Run("coffer annotations", func(t *testing.T) {
		got := createPod(t, kc, ns, "coffer", cofferAnnotations())
		checkInjectedPod(t, got)
	})
	t.Run("vault aliases", func(t *testing.T) {
		vault := map[string]string{}
		for k, v := range cofferAnnotations() {
			vault[strings.Replace(k, PrefixCoffer, PrefixVault, 1)] = v
		}
		got := createPod(t, kc, ns, "vault", vault)
		checkInjectedPod(t, got)
	})
	t.Run("pre-populate only", func(t *testing.T) {
		ann := cofferAnnotations()
		ann["coffer.io/agent-pre-populate-only"] = "true"
		got := createPod(t, kc, ns, "init-only", ann)
		if i, _ := findContainer(got.Spec.InitContainers, InitContainerName); i < 0 {
			t.Error("no init container")
		}
		if i, _ := findContainer(got.Spec.Containers, SidecarContainerName); i >= 0 {
			t.Error("a sidecar with pre-populate-only")
		}
	})
	t.Run("native sidecar", func(t *testing.T) {
		// The API server accepts a startup probe on an init container
		// only when it is a sidecar (restartPolicy Always): a pod it takes
		// and returns with both is one the kubelet will run that way.
		ann := cofferAnnotations()
		ann["coffer.io/agent-native-sidecar"] = "true"
		got := createPod(t, kc, ns, "native", ann)
		_, c := findContainer(got.Spec.InitContainers, SidecarContainerName)
		if c == nil || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || c.StartupProbe == nil || c.StartupProbe.Exec == nil {
			t.Fatalf("init containers %v: native sidecar %+v", names(got.Spec.InitContainers), c)
		}
		if i, _ := findContainer(got.Spec.Containers, SidecarContainerName); i >= 0 {
			t.Error("a sidecar in containers as well")
		}
	})
	t.Run("not annotated is untouched", func(t *testing.T) {
		got := createPod(t, kc, ns, "plain", map[string]string{"team": "a"})
		checkUntouched(t, got)
	})
	t.Run("already injected is untouched", func(t *testing.T) {
		ann := cofferAnnotations()
		ann[StatusAnnotation] = StatusInjected
		got := createPod(t, kc, ns, "done", ann)
		checkUntouched(t, got)
	})
	t.Run("bad annotation is denied", func(t *testing.T) {
		ann := cofferAnnotations()
		ann["coffer.io/agent-inject-template-nosuch"] = "x"
		_, err := tryCreatePod(kc, ns, "bad", ann)
		want := "coffer injector: coffer.io/agent-inject-template-nosuch names no secret: add coffer.io/agent-inject-secret-nosuch"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("create = %v, want a denial containing %q", err, want)
		}
	})
}

// TestKubeFailurePolicy: once the injector is unreachable, Ignore lets an
// annotated pod through unmutated and Fail refuses it. Each namespace's
// webhook first points at a live injector (so its registration is known
// to be in force), then is switched to a dead address and the policy; a
// pod that comes back unmutated, or a refusal, shows the switch arrived.
func TestKubeFailurePolicy(t *testing.T) {
	kc := kubetest.Shared(t)
	url, caPEM := startInjector(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "https://" + l.Addr().String() + MutatePath
	l.Close() // nothing listens there any more
	for _, policy := range []string{"Ignore", "Fail"} {
		t.Run(policy, func(t *testing.T) {
			ns := kc.NewNamespace(t, nil)
			kc.CreateServiceAccount(t, ns, "app")
			name := registerWebhook(t, kc, ns, url, caPEM, "Fail")
			awaitWebhook(t, kc, ns)
			switchWebhook(t, kc, name, deadURL, policy)
			deadline := time.Now().Add(time.Minute)
			for i := 0; ; i++ {
				pod, err := tryCreatePod(kc, ns, fmt.Sprintf("web-%d", i), cofferAnnotations())
				switch {
				case err == nil && pod.Annotations[StatusAnnotation] == StatusInjected:
					// the live configuration is still cached: try again
				case policy == "Ignore" && err == nil:
					checkUntouched(t, pod)
					return
				case policy == "Fail" && err != nil && strings.Contains(err.Error(), "failed calling webhook"):
					return
				default:
					t.Fatalf("failurePolicy %s: create = %v", policy, err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("failurePolicy %s not in force after a minute", policy)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// switchWebhook points the webhook configuration name at url with policy.
func switchWebhook(t *testing.T, kc *kubetest.Cluster, name, url, policy string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := kc.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	wh, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := failurePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	wh.Webhooks[0].ClientConfig.URL, wh.Webhooks[0].FailurePolicy = &url, &fp
	if _, err := api.Update(ctx, wh, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update webhook configuration: %v", err)
	}
}

// startInjector serves the injector on a loopback port with a fresh CA's
// certificate and returns its URL and the CA.
func startInjector(t *testing.T) (string, []byte) {
	t.Helper()
	addr, caPEM := kubetest.ServeWebhook(t, func(ctx context.Context, l net.Listener, certFile, keyFile string) error {
		return Serve(ctx, l, NewHandler(testInjector(t), nil), certFile, keyFile, nil)
	})
	return "https://" + addr + MutatePath, caPEM
}

// registerWebhook points the API server at url for pods created in ns
// only, and returns the configuration's name.
func registerWebhook(t *testing.T, kc *kubetest.Cluster, ns, url string, caPEM []byte, policy string) string {
	t.Helper()
	wh, err := WebhookConfiguration(WebhookOptions{Name: ns + ".injector.coffer.io", URL: url, CABundle: caPEM, FailurePolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	wh.Webhooks[0].NamespaceSelector = kubetest.OnlyNamespace(ns)
	kc.CreateMutatingWebhook(t, wh)
	return wh.Name
}

// awaitWebhook waits until a dry-run creation of an annotated pod in ns
// comes back mutated: the API server loads webhook configurations
// asynchronously.
func awaitWebhook(t *testing.T, kc *kubetest.Cluster, ns string) {
	t.Helper()
	kc.AwaitMutation(t, ns, appPod("probe", cofferAnnotations()), func(p *corev1.Pod) bool {
		return p.Annotations[StatusAnnotation] == StatusInjected
	})
}

func appPod(name string, ann map[string]string) *corev1.Pod {
	p := testPod(ann)
	p.Name, p.Namespace = name, ""
	return p
}

func tryCreatePod(kc *kubetest.Cluster, ns, name string, ann map[string]string) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kc.Client.CoreV1().Pods(ns).Create(ctx, appPod(name, ann), metav1.CreateOptions{})
}

// createPod creates the pod and reads it back from the API server.
func createPod(t *testing.T, kc *kubetest.Cluster, ns, name string, ann map[string]string) *corev1.Pod {
	t.Helper()
	if _, err := tryCreatePod(kc, ns, name, ann); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod, err := kc.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return pod
}

// checkInjectedPod asserts what the API server stored for an injected pod.
func checkInjectedPod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if pod.Annotations[StatusAnnotation] != StatusInjected {
		t.Errorf("annotations = %v", pod.Annotations)
	}
	_, init := findContainer(pod.Spec.InitContainers, InitContainerName)
	_, side := findContainer(pod.Spec.Containers, SidecarContainerName)
	if init == nil || side == nil {
		t.Fatalf("init containers %v, containers %v", names(pod.Spec.InitContainers), names(pod.Spec.Containers))
	}
	checkAgentContainer(t, *init)
	checkAgentContainer(t, *side)
	if cfg := agentConfigOf(t, *init); !cfg.ExitAfterAuth || cfg.AutoAuth.Method.Role != "web" || len(cfg.Templates) != 2 {
		t.Errorf("init container's agent configuration = %+v", cfg)
	}
	if cfg := agentConfigOf(t, *side); cfg.ExitAfterAuth {
		t.Error("the sidecar exits after auth")
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != SidecarContainerName && !hasMount(c, SecretsVolumeName, SecretsDir, true) {
			t.Errorf("container %s does not mount the secrets: %+v", c.Name, c.VolumeMounts)
		}
	}
	if !hasMount(pod.Spec.InitContainers[0], SecretsVolumeName, SecretsDir, true) {
		t.Errorf("the pod's own init container does not mount the secrets")
	}
	sv, tv := findVolume(pod.Spec.Volumes, SecretsVolumeName), findVolume(pod.Spec.Volumes, TokenVolumeName)
	if sv == nil || sv.EmptyDir == nil || sv.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("secrets volume = %+v", sv)
	}
	if tv == nil || tv.Projected == nil || tv.Projected.Sources[0].ServiceAccountToken == nil ||
		tv.Projected.Sources[0].ServiceAccountToken.Audience != DefaultAudience {
		t.Errorf("token volume = %+v", tv)
	}
}

// checkUntouched asserts the injector added nothing.
func checkUntouched(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if len(pod.Spec.InitContainers) != 1 || len(pod.Spec.Containers) != 2 {
		t.Errorf("init containers %v, containers %v: want the pod's own", names(pod.Spec.InitContainers), names(pod.Spec.Containers))
	}
	if findVolume(pod.Spec.Volumes, SecretsVolumeName) != nil || findVolume(pod.Spec.Volumes, TokenVolumeName) != nil {
		t.Errorf("volumes = %+v", pod.Spec.Volumes)
	}
	for _, c := range pod.Spec.Containers {
		if hasMount(c, SecretsVolumeName, SecretsDir, true) {
			t.Errorf("container %s mounts the secrets", c.Name)
		}
	}
}
