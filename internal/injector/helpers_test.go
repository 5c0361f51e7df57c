package injector

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/internal/config"
)

func testInjector(t testing.TB) *Injector {
	t.Helper()
	inj, err := New(Config{AgentImage: "registry.example/coffer:1.0", Address: "https://coffer.coffer.svc:8200"})
	if err != nil {
		t.Fatal(err)
	}
	return inj
}

// testPod is an application pod with one init container, two containers
// (one with a mount of its own) and a volume, annotated with ann.
func testPod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "app:1"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "app:1", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
				{Name: "proxy", Image: "proxy:1"},
			},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// applyPatch applies a JSON Patch to pod with evanphx/json-patch (the
// library the API server's own patch handling uses) and returns the
// result.
func applyPatch(t testing.TB, pod *corev1.Pod, patch []byte) *corev1.Pod {
	t.Helper()
	orig, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("decode patch %s: %v", patch, err)
	}
	out, err := p.Apply(orig)
	if err != nil {
		t.Fatalf("apply patch %s: %v", patch, err)
	}
	var res corev1.Pod
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// mutated runs the injector on pod and applies its patch.
func mutated(t testing.TB, inj *Injector, pod *corev1.Pod) (*corev1.Pod, *Mutation) {
	t.Helper()
	m, err := inj.Mutate(pod)
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	if m.Patch == nil {
		t.Fatal("Mutate: no patch")
	}
	return applyPatch(t, pod, m.Patch), m
}

// agentConfigOf decodes and parses the configuration an injected
// container carries, as `coffer agent -config-env` would.
func agentConfigOf(t testing.TB, c corev1.Container) *config.Agent {
	t.Helper()
	if len(c.Env) != 1 || c.Env[0].Name != ConfigEnv {
		t.Fatalf("%s env = %+v, want only %s", c.Name, c.Env, ConfigEnv)
	}
	src, err := base64.StdEncoding.DecodeString(c.Env[0].Value)
	if err != nil {
		t.Fatalf("%s: %s is not base64: %v", c.Name, ConfigEnv, err)
	}
	cfg, err := config.ParseAgent(src, ConfigEnv)
	if err != nil {
		t.Fatalf("%s: agent configuration refused: %v\n%s", c.Name, err, src)
	}
	return cfg
}

func findContainer(cs []corev1.Container, name string) (int, *corev1.Container) {
	for i := range cs {
		if cs[i].Name == name {
			return i, &cs[i]
		}
	}
	return -1, nil
}

func findVolume(vs []corev1.Volume, name string) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}
