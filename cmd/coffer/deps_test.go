package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoTypedKubeClient keeps client-go's typed clientset and scheme out of
// the binary. Their package init registers every Kubernetes API group, and
// with their types they made up 37 of the binary's 90 MiB: every run of
// coffer, the server included, paid for them in start-up time and in idle
// RSS (51 MiB against 34 without them; docs/BENCHMARKS-GROWTH.md), though
// only "coffer k8s connect" talked to Kubernetes through them. Use
// k8s.io/client-go/dynamic with small declared structs, as k8sconnect does.
func TestNoTypedKubeClient(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps listed %d packages: not the binary's dependencies", len(deps))
	}
	banned := []string{"k8s.io/client-go/kubernetes", "k8s.io/api/rbac/", "k8s.io/api/apps/"}
	for _, p := range deps {
		for _, b := range banned {
			if p == b || strings.HasPrefix(p, b+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(p, b) {
				t.Errorf("the coffer binary links %s", p)
			}
		}
	}
}
