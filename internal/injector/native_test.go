package injector

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestNativeSidecar: with agent-native-sidecar (or the injector's
// default) one agent goes into initContainers with restartPolicy Always,
// keeps the files fresh (no exit_after_auth) and, unless pre-populate is
// off, has the startup probe that holds the pod's containers back until
// every file is rendered; no separate init container, no sidecar in
// containers. Where it goes follows agent-init-first.
func TestNativeSidecar(t *testing.T) {
	t.Parallel()
	withNative := func(extra map[string]string) map[string]string {
		ann := cofferAnnotations()
		ann["coffer.io/agent-native-sidecar"] = "true"
		for k, v := range extra {
			ann[k] = v
		}
		return ann
	}
	probe := []string{"coffer", "agent", "-config-env=" + ConfigEnv, "-rendered"}

	got, _ := mutated(t, testInjector(t), testPod(withNative(nil)))
	if n := names(got.Spec.InitContainers); !reflect.DeepEqual(n, []string{"migrate", SidecarContainerName}) {
		t.Fatalf("init containers = %v, want the pod's then %s", n, SidecarContainerName)
	}
	if n := names(got.Spec.Containers); len(n) != 2 {
		t.Fatalf("containers = %v, want only the pod's two", n)
	}
	c := got.Spec.InitContainers[1]
	checkAgentContainer(t, c)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy = %v, want Always", c.RestartPolicy)
	}
	if p := c.StartupProbe; p == nil || p.Exec == nil || !reflect.DeepEqual(p.Exec.Command, probe) || p.PeriodSeconds != 1 {
		t.Errorf("startup probe = %+v, want exec %q every second", p, probe)
	}
	if cfg := agentConfigOf(t, c); cfg.ExitAfterAuth || cfg.TemplateConfig.ExitOnRetryFailure || len(cfg.Templates) != 2 {
		t.Errorf("config: exit_after_auth %v, exit_on_retry_failure %v, %d templates; want false, false, 2",
			cfg.ExitAfterAuth, cfg.TemplateConfig.ExitOnRetryFailure, len(cfg.Templates))
	}
	if !hasMount(got.Spec.InitContainers[0], SecretsVolumeName, SecretsDir, true) {
		t.Error("the pod's init container does not see the secrets")
	}

	first, _ := mutated(t, testInjector(t), testPod(withNative(map[string]string{"coffer.io/agent-init-first": "true"})))
	if n := names(first.Spec.InitContainers); !reflect.DeepEqual(n, []string{SidecarContainerName, "migrate"}) {
		t.Errorf("init-first: init containers = %v", n)
	}
	lazy, _ := mutated(t, testInjector(t), testPod(withNative(map[string]string{"coffer.io/agent-pre-populate": "false"})))
	if _, c := findContainer(lazy.Spec.InitContainers, SidecarContainerName); c == nil || c.StartupProbe != nil || c.RestartPolicy == nil {
		t.Errorf("pre-populate false: native sidecar %+v, want one without a startup probe", c)
	}
}

// TestNativeSidecarDefault: the injector's NativeSidecar is the default a
// pod's annotation overrides; agent-pre-populate-only keeps the single
// one-shot init container, and asking for both is refused.
func TestNativeSidecarDefault(t *testing.T) {
	t.Parallel()
	inj, err := New(Config{AgentImage: "registry.example/coffer:1.0", Address: "https://coffer.coffer.svc:8200", NativeSidecar: true})
	if err != nil {
		t.Fatal(err)
	}
	isNative := func(p *corev1.Pod) bool {
		_, c := findContainer(p.Spec.InitContainers, SidecarContainerName)
		return c != nil && c.RestartPolicy != nil
	}
	got, _ := mutated(t, inj, testPod(cofferAnnotations()))
	if !isNative(got) || len(got.Spec.Containers) != 2 {
		t.Errorf("default on: init %v, containers %v", names(got.Spec.InitContainers), names(got.Spec.Containers))
	}
	ann := cofferAnnotations()
	ann["vault.hashicorp.com/agent-native-sidecar"] = "false"
	got, _ = mutated(t, inj, testPod(ann))
	if isNative(got) || !reflect.DeepEqual(names(got.Spec.InitContainers), []string{"migrate", InitContainerName}) ||
		names(got.Spec.Containers)[2] != SidecarContainerName {
		t.Errorf("annotation false: init %v, containers %v", names(got.Spec.InitContainers), names(got.Spec.Containers))
	}
	ann = cofferAnnotations()
	ann["coffer.io/agent-pre-populate-only"] = "true"
	got, _ = mutated(t, inj, testPod(ann))
	if isNative(got) || len(got.Spec.Containers) != 2 {
		t.Errorf("pre-populate-only: init %v, containers %v", names(got.Spec.InitContainers), names(got.Spec.Containers))
	}
	ann["coffer.io/agent-native-sidecar"] = "true"
	_, err = inj.Mutate(testPod(ann))
	if !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), "coffer.io/agent-native-sidecar and coffer.io/agent-pre-populate-only are both true") {
		t.Errorf("both: %v", err)
	}
	ann["coffer.io/agent-native-sidecar"] = "soon"
	if _, err = inj.Mutate(testPod(ann)); !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), `"soon"`) {
		t.Errorf("not a boolean: %v", err)
	}
}

// TestDenialCutsLongValues: a denial names the annotation and repeats at
// most the start of a hostile value, not all of its 256 kB.
func TestDenialCutsLongValues(t *testing.T) {
	t.Parallel()
	inj := testInjector(t)
	for _, key := range []string{"coffer.io/agent-native-sidecar", "coffer.io/agent-run-as-user", "coffer.io/agent-inject-perms-db", "coffer.io/agent-inject-file-db", "coffer.io/service"} {
		ann := cofferAnnotations()
		ann[key] = "/" + strings.Repeat("é", 200000)
		_, err := inj.Mutate(testPod(ann))
		if !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), key) || len(err.Error()) > 1000 {
			t.Errorf("%s: %d-byte error %.200q", key, len(fmt.Sprint(err)), fmt.Sprint(err))
		}
	}
}
