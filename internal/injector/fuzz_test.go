package injector

import (
	"errors"
	"strings"
	"testing"
)

// FuzzMutate feeds arbitrary annotations (key=value lines) to the
// injector: it must never panic, must deny only with ErrBadAnnotation,
// and every patch it makes must apply and give agents whose configuration
// the agent accepts.
func FuzzMutate(f *testing.F) {
	f.Add("coffer.io/agent-inject=true\ncoffer.io/role=r\ncoffer.io/agent-inject-secret-a=kv/a")
	f.Add("vault.hashicorp.com/agent-inject=true\nvault.hashicorp.com/role=r\nvault.hashicorp.com/agent-inject-secret-a=kv/\"a\nvault.hashicorp.com/agent-inject-template-a={{ with secret \"kv/a\" }}{{ .Data }}{{ end }}")
	f.Add("coffer.io/agent-inject=1\ncoffer.io/role=r\ncoffer.io/agent-inject-secret-a=kv/a\ncoffer.io/agent-inject-file-a=x/../y\ncoffer.io/agent-inject-perms-a=777")
	f.Add("coffer.io/agent-inject=true\ncoffer.io/role=r\ncoffer.io/agent-inject-secret-a=a\ncoffer.io/agent-inject-command-a=`rm`\ncoffer.io/agent-pre-populate-only=true\ncoffer.io/service=https://x")
	f.Add("coffer.io/agent-inject=true\ncoffer.io/role=r\ncoffer.io/agent-inject-secret-a=a\ncoffer.io/agent-native-sidecar=true\ncoffer.io/agent-init-first=true\ncoffer.io/agent-pre-populate=false")
	inj := testInjector(f)
	f.Fuzz(func(t *testing.T, in string) {
		ann := map[string]string{}
		for _, line := range strings.Split(in, "\n") {
			k, v, _ := strings.Cut(line, "=")
			ann[k] = v
		}
		pod := testPod(ann)
		m, err := inj.Mutate(pod)
		if err != nil {
			if !errors.Is(err, ErrBadAnnotation) {
				t.Fatalf("error not ErrBadAnnotation: %v", err)
			}
			return
		}
		if m.Patch == nil {
			return
		}
		got := applyPatch(t, pod, m.Patch)
		for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
			if c.Name == InitContainerName || c.Name == SidecarContainerName {
				agentConfigOf(t, c)
			}
		}
		if again, err := inj.Mutate(got); err != nil || again.Patch != nil {
			t.Fatalf("second injection: %v %s", err, again.Patch)
		}
	})
}
