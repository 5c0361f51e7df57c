package k8sconnect

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// objectNames gives each path a file name: its last element made safe,
// numbered when two would collide.
func objectNames(paths []string) []string {
	bad := regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
	seen := map[string]int{}
	out := make([]string, len(paths))
	for i, p := range paths {
		n := p[strings.LastIndex(p, "/")+1:]
		n = strings.Trim(bad.ReplaceAllString(n, "-"), "-.")
		if n == "" || n == "*" {
			n = "secret"
		}
		seen[n]++
		if seen[n] > 1 {
			n = fmt.Sprintf("%s-%d", n, seen[n])
		}
		out[i] = n
	}
	return out
}

// SecretProviderClass renders the CSI driver's object for the workload.
func (r *Result) SecretProviderClass() string {
	o := r.Options
	var objs strings.Builder
	for i, n := range objectNames(o.Paths) {
		fmt.Fprintf(&objs, "      - objectName: %s\n        secretPath: %s\n", strconv.Quote(n), strconv.Quote(o.Paths[i]))
	}
	if objs.Len() == 0 {
		objs.WriteString("      - objectName: \"example\"\n        secretPath: \"secret/data/example\"\n")
	}
	return fmt.Sprintf(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: %s
  namespace: %s
spec:
  provider: coffer
  parameters:
    roleName: %s
    cofferAddress: %s
    authMountPath: %s
    audience: %s
    objects: |
%s`, o.Role, o.Namespace, strconv.Quote(o.Role), strconv.Quote(o.CofferAddress), strconv.Quote(o.AuthPath),
		strconv.Quote(o.Audience), objs.String())
}

// Annotations renders the pod template annotations for the injector.
func (r *Result) Annotations() string {
	o := r.Options
	var b strings.Builder
	fmt.Fprintf(&b, "# in the pod template (serviceAccountName: %s):\nmetadata:\n  annotations:\n", o.ServiceAccount)
	b.WriteString("    coffer.io/agent-inject: \"true\"\n")
	fmt.Fprintf(&b, "    coffer.io/role: %s\n", strconv.Quote(o.Role))
	if o.AuthPath != "kubernetes" {
		fmt.Fprintf(&b, "    coffer.io/auth-path: %s\n", strconv.Quote("auth/"+o.AuthPath))
	}
	for i, n := range objectNames(o.Paths) {
		fmt.Fprintf(&b, "    coffer.io/agent-inject-secret-%s: %s\n", n, strconv.Quote(o.Paths[i]))
	}
	return b.String()
}
