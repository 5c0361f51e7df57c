package helm

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/cofferhq/coffer/internal/cli"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/csiprovider"
	"github.com/cofferhq/coffer/internal/injector"
)

// TestChartDev renders the default (dev) values and checks every part.
func TestChartDev(t *testing.T) {
	r := render(t, "coffer", "coffer", "", nil)
	for _, kn := range [][2]string{
		{"StatefulSet", "coffer-server"}, {"Service", "coffer"}, {"Service", "coffer-internal"},
		{"Secret", "coffer-dev-root-token"}, {"ServiceAccount", "coffer-server"},
		{"ClusterRoleBinding", "coffer-server-auth-delegator"}, {"PodDisruptionBudget", "coffer-server"},
		{"NetworkPolicy", "coffer-server"}, {"ServiceAccount", "coffer-injector"}, {"Service", "coffer-injector"},
		{"Deployment", "coffer-injector"}, {"Secret", "coffer-injector-tls"},
		{"MutatingWebhookConfiguration", "coffer-agent-injector.coffer.io"}, {"PodDisruptionBudget", "coffer-injector"},
		{"NetworkPolicy", "coffer-injector"}, {"ServiceAccount", "coffer-csi-provider"},
		{"DaemonSet", "coffer-csi-provider"}, {"NetworkPolicy", "coffer-csi-provider"},
	} {
		r.find(t, kn[0], kn[1])
	}
	if r.has("ConfigMap") {
		t.Error("a server ConfigMap in dev mode")
	}
	sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
	if *sts.Spec.Replicas != 1 || len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Errorf("dev StatefulSet: replicas %d, claims %d; want 1, 0", *sts.Spec.Replicas, len(sts.Spec.VolumeClaimTemplates))
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "-dev") || c.Env[1].Name != "COFFER_DEV_ROOT_TOKEN_ID" || c.Env[1].ValueFrom == nil {
		t.Errorf("dev server: args %q env %+v", c.Args, c.Env)
	}
	checkWorkloads(t, r)
	checkAuthDelegator(t, r, "coffer", "coffer-server")
	checkWebhook(t, r, "coffer", "Ignore")
	checkCSI(t, r, "/var/run/secrets-store-csi-providers", "http://coffer.coffer.svc:8200")
	dep := into[appsv1.Deployment](t, r.find(t, "Deployment", "coffer-injector"))
	if v, _ := argValue(dep.Spec.Template.Spec.Containers[0].Args, "coffer-addr"); v != "http://coffer.coffer.svc:8200" {
		t.Errorf("injector -coffer-addr = %q", v)
	}
	if !strings.Contains(r.notes, "DEV MODE") {
		t.Errorf("NOTES do not warn about dev mode:\n%s", r.notes)
	}
}

// TestChartProduction renders values-production.yaml: TLS from a Secret,
// a volume claim, a configuration the server itself accepts. Its three
// raft servers are followed further by TestChartHA.
func TestChartProduction(t *testing.T) {
	r := render(t, "coffer", "coffer", "values-production.yaml", nil)
	sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
	spec := sts.Spec.Template.Spec
	if *sts.Spec.Replicas != 3 || len(sts.Spec.VolumeClaimTemplates) != 1 ||
		sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String() != "10Gi" {
		t.Errorf("production StatefulSet: replicas %d, claims %+v", *sts.Spec.Replicas, sts.Spec.VolumeClaimTemplates)
	}
	if got := spec.Containers[0].Args; !reflect.DeepEqual(got, []string{"-config=/coffer/config/coffer.hcl"}) {
		t.Errorf("server args = %q", got)
	}
	if v := volume(spec, "tls"); v == nil || v.Secret == nil || v.Secret.SecretName != "coffer-server-tls" {
		t.Errorf("tls volume = %+v", v)
	}
	if env := spec.Containers[0].Env; len(env) < 2 || env[0].Value != "https://127.0.0.1:8200" || env[1].Value != "/coffer/tls/ca.crt" {
		t.Errorf("server env = %+v, want the CLI pointed at the pod's own TLS listener", env)
	}
	if p := spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("readiness probe = %+v", p)
	}
	for _, o := range r.objs {
		if o.GetKind() == "Secret" && o.GetName() == "coffer-dev-root-token" {
			t.Error("a dev root token in production")
		}
	}
	cfg := serverConfig(t, r)
	if cfg.Storage.Type != config.StorageRaft || cfg.Storage.Path != "/coffer/data/raft" {
		t.Errorf("storage = %+v", cfg.Storage)
	}
	if l := cfg.Listeners[0]; l.TLSDisable || l.TLSCertFile != "/coffer/tls/tls.crt" || l.TLSKeyFile != "/coffer/tls/tls.key" {
		t.Errorf("listener = %+v", l)
	}
	// api_addr is each pod's own, from its environment (TestChartHA).
	if cfg.APIAddr != "" || cfg.Seal != nil || cfg.LogFormat != "json" || cfg.DefaultLeaseTTL.String() != "24h0m0s" {
		t.Errorf("api_addr %q, seal %+v, log_format %q, default_lease_ttl %s", cfg.APIAddr, cfg.Seal, cfg.LogFormat, cfg.DefaultLeaseTTL)
	}
	checkWorkloads(t, r)
	checkAuthDelegator(t, r, "coffer", "coffer-server")
	checkWebhook(t, r, "coffer", "Fail")
	checkCSI(t, r, "/var/run/secrets-store-csi-providers", "https://coffer.coffer.svc:8200")
	ds := into[appsv1.DaemonSet](t, r.find(t, "DaemonSet", "coffer-csi-provider"))
	if v := volume(ds.Spec.Template.Spec, "tls"); v == nil || v.Secret == nil || len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "ca.crt" {
		t.Errorf("the provider's CA volume = %+v, want only ca.crt of the server's Secret", v)
	}
}

// TestChartOptions: the switches that change the configuration.
func TestChartOptions(t *testing.T) {
	t.Run("static seal", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "values-production.yaml", map[string]any{
			"server": map[string]any{"seal": map[string]any{"staticKeySecret": "coffer-unseal"}}})
		if cfg := serverConfig(t, r); cfg.Seal == nil || cfg.Seal.KeyFile != "/coffer/seal/key" {
			t.Errorf("seal = %+v", cfg.Seal)
		}
		sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
		if v := volume(sts.Spec.Template.Spec, "seal"); v == nil || v.Secret.SecretName != "coffer-unseal" {
			t.Errorf("seal volume = %+v", v)
		}
	})
	t.Run("old providers directory", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "", map[string]any{
			"csi": map[string]any{"providersDir": "/etc/kubernetes/secrets-store-csi-providers"}})
		checkCSI(t, r, "/etc/kubernetes/secrets-store-csi-providers", "http://coffer.coffer.svc:8200")
	})
	t.Run("parts off", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "", map[string]any{
			"server": map[string]any{"enabled": false}, "csi": map[string]any{"enabled": false}})
		if r.has("StatefulSet") || r.has("DaemonSet") || !r.has("MutatingWebhookConfiguration") {
			t.Errorf("objects = %v", r.names())
		}
	})
	t.Run("native sidecar", func(t *testing.T) {
		for _, native := range []bool{false, true} {
			r := render(t, "coffer", "coffer", "", map[string]any{"injector": map[string]any{"nativeSidecar": native}})
			dep := into[appsv1.Deployment](t, r.find(t, "Deployment", "coffer-injector"))
			if got := slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "-native-sidecar"); got != native {
				t.Errorf("nativeSidecar %v: injector args %q", native, dep.Spec.Template.Spec.Containers[0].Args)
			}
		}
	})
	t.Run("own injector certificate", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "", map[string]any{"injector": map[string]any{
			"tls": map[string]any{"secretName": "from-cert-manager", "caBundle": "-----BEGIN CERTIFICATE-----\n"}}})
		for _, o := range r.objs {
			if o.GetKind() == "Secret" && o.GetName() == "coffer-injector-tls" {
				t.Error("a generated certificate although injector.tls.secretName is set")
			}
		}
	})
	for name, tc := range map[string]struct {
		file string
		set  map[string]any
		want string
	}{
		"production without TLS secret": {"", map[string]any{"server": map[string]any{"dev": map[string]any{"enabled": false}}}, "server.tls.secretName is required"},
		"bad failure policy":            {"", map[string]any{"injector": map[string]any{"failurePolicy": "Sometimes"}}, "injector.failurePolicy must be Ignore or Fail"},
		"own certificate without CA": {"", map[string]any{"injector": map[string]any{"tls": map[string]any{"secretName": "x"}}},
			"injector.tls.caBundle"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := errorOf(t, tc.file, tc.set); !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// serverConfig parses the rendered coffer.hcl with the server's own
// parser, with the files it reads (retry_join's CA) present as the pod
// would have them mounted; the result names the pod's paths.
func serverConfig(t *testing.T, r *rendered) *config.Server {
	t.Helper()
	var cm *corev1.ConfigMap
	for _, o := range r.objs {
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-server-config") {
			cm = into[corev1.ConfigMap](t, o)
		}
	}
	if cm == nil {
		t.Fatalf("no server ConfigMap among %v", r.names())
	}
	hcl, restore := withMountedFiles(t, cm.Data["coffer.hcl"])
	cfg, err := config.Parse([]byte(hcl), "coffer.hcl")
	if err != nil {
		t.Fatalf("the server refuses the chart's configuration: %v\n%s", err, cm.Data["coffer.hcl"])
	}
	restore(cfg)
	return cfg
}

// checkWorkloads checks every pod the chart runs: least privilege, and
// only flags its command knows.
func checkWorkloads(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.objs {
		var spec corev1.PodSpec
		switch o.GetKind() {
		case "StatefulSet":
			spec = into[appsv1.StatefulSet](t, o).Spec.Template.Spec
		case "Deployment":
			spec = into[appsv1.Deployment](t, o).Spec.Template.Spec
		case "DaemonSet":
			spec = into[appsv1.DaemonSet](t, o).Spec.Template.Spec
		default:
			continue
		}
		csi := o.GetKind() == "DaemonSet"
		checkPodSecurity(t, o.GetName(), spec, !csi)
		if o.GetKind() != "StatefulSet" && (spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken) {
			t.Errorf("%s: a service-account token is mounted; it calls no Kubernetes API", o.GetName())
		}
		for _, c := range spec.Containers {
			checkFlags(t, o.GetName(), c)
		}
	}
}

// checkPodSecurity: non-root (but for the CSI provider, which runs as UID
// 0 without capabilities), read-only root, no escalation, no capability.
func checkPodSecurity(t *testing.T, name string, spec corev1.PodSpec, nonRoot bool) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v, want seccomp RuntimeDefault", name, psc)
		return
	}
	if nonRoot && (psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0) {
		t.Errorf("%s: runs as root: %+v", name, psc)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			(sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil ||
			!slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
			t.Errorf("%s/%s: securityContext %+v is not least privilege", name, c.Name, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory request or limit", name, c.Name)
		}
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil && nonRoot {
			t.Errorf("%s: hostPath volume %s", name, v.Name)
		}
	}
}

var helpFlagRe = regexp.MustCompile(`(?m)^\s+--?([a-z0-9-]+)`)

// checkFlags: every -name=value the chart passes is a flag of the
// container's `coffer` subcommand, as its own -h lists them.
func checkFlags(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	if len(c.Command) != 2 || c.Command[0] != "coffer" {
		t.Errorf("%s/%s: command %q, want coffer <subcommand>", name, c.Name, c.Command)
		return
	}
	known := helpFlags(t, c.Command[1])
	for _, a := range c.Args {
		flag, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !known[flag] {
			t.Errorf("%s/%s: argument %q is not a flag of coffer %s", name, c.Name, a, c.Command[1])
		}
	}
}

var helpCache sync.Map

// helpFlags runs `coffer <sub> -h` in process and returns the flag names
// it lists.
func helpFlags(t *testing.T, sub string) map[string]bool {
	t.Helper()
	if v, ok := helpCache.Load(sub); ok {
		return v.(map[string]bool)
	}
	out := captureStdout(t, func() { cli.Main([]string{"coffer", sub, "-h"}) })
	known := map[string]bool{}
	for _, m := range helpFlagRe.FindAllStringSubmatch(out, -1) {
		known[m[1]] = true
	}
	if len(known) < 3 {
		t.Fatalf("coffer %s -h lists no flags:\n%s", sub, out)
	}
	helpCache.Store(sub, known)
	return known
}

// captureStdout returns what f writes to os.Stdout. The tests that call
// it do not run in parallel.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	rd, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(rd)
		done <- string(b)
	}()
	f()
	os.Stdout = old
	w.Close()
	return <-done
}

// checkAuthDelegator: the server's account, and only it, may review tokens.
func checkAuthDelegator(t *testing.T, r *rendered, ns, sa string) {
	t.Helper()
	crb := into[rbacv1.ClusterRoleBinding](t, r.find(t, "ClusterRoleBinding", sa+"-auth-delegator"))
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "system:auth-delegator" || !reflect.DeepEqual(crb.Subjects, want) {
		t.Errorf("binding = %+v %+v", crb.RoleRef, crb.Subjects)
	}
	for _, o := range r.objs {
		switch o.GetKind() {
		case "ClusterRole", "Role", "RoleBinding":
			t.Errorf("%s %s: the chart needs no other RBAC", o.GetKind(), o.GetName())
		case "ClusterRoleBinding":
			if o.GetName() != crb.Name {
				t.Errorf("ClusterRoleBinding %s: the chart needs no other RBAC", o.GetName())
			}
		}
	}
}

// checkWebhook: the registration is what `coffer injector
// -print-webhook-config` makes, and its caBundle signs the certificate the
// injector serves for its Service.
func checkWebhook(t *testing.T, r *rendered, ns, policy string) {
	t.Helper()
	got := into[admissionregistrationv1.MutatingWebhookConfiguration](t, r.find(t, "MutatingWebhookConfiguration", ns+"-agent-injector.coffer.io"))
	ca := got.Webhooks[0].ClientConfig.CABundle
	want, err := injector.WebhookConfiguration(injector.WebhookOptions{
		ServiceNamespace: ns, ServiceName: ns + "-injector", CABundle: ca, FailurePolicy: policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Webhooks, want.Webhooks) {
		t.Errorf("webhooks differ from coffer injector -print-webhook-config:\n got %+v\nwant %+v", got.Webhooks, want.Webhooks)
	}
	block, _ := pem.Decode(ca)
	if block == nil {
		t.Fatalf("caBundle is not PEM: %q", ca)
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sec := into[corev1.Secret](t, r.find(t, "Secret", ns+"-injector-tls"))
	leafBlock, _ := pem.Decode(sec.Data["tls.crt"])
	if leafBlock == nil || len(sec.Data["tls.key"]) == 0 {
		t.Fatalf("injector TLS Secret: %v", sec.Data)
	}
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: ns + "-injector." + ns + ".svc", Roots: roots}); err != nil {
		t.Errorf("the injector's certificate does not verify against the caBundle for its Service: %v", err)
	}
	dep := into[appsv1.Deployment](t, r.find(t, "Deployment", ns+"-injector"))
	if v := volume(dep.Spec.Template.Spec, "tls"); v == nil || v.Secret.SecretName != sec.Name {
		t.Errorf("the injector mounts %+v, want Secret %s", v, sec.Name)
	}
	np := into[networkingv1.NetworkPolicy](t, r.find(t, "NetworkPolicy", ns+"-injector"))
	if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntValue() != 8443 || len(np.Spec.Egress) != 0 ||
		!slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("injector NetworkPolicy = %+v", np.Spec)
	}
}

// checkCSI: the provider's socket is in the driver's provider directory on
// the node, under the name the driver looks for.
func checkCSI(t *testing.T, r *rendered, dir, addr string) {
	t.Helper()
	ds := into[appsv1.DaemonSet](t, r.find(t, "DaemonSet", "coffer-csi-provider"))
	spec := ds.Spec.Template.Spec
	v := volume(spec, "providers-dir")
	if v == nil || v.HostPath == nil || v.HostPath.Path != dir {
		t.Fatalf("providers-dir volume = %+v, want hostPath %s", v, dir)
	}
	c := spec.Containers[0]
	ep, err := argValue(c.Args, "endpoint")
	if err != nil {
		t.Fatal(err)
	}
	var mountPath string
	for _, m := range c.VolumeMounts {
		if m.Name == "providers-dir" {
			mountPath = m.MountPath
		}
	}
	if ep != mountPath+"/"+csiprovider.Name+".sock" {
		t.Errorf("-endpoint=%s, want %s/%s.sock on the hostPath mount", ep, mountPath, csiprovider.Name)
	}
	if got, _ := argValue(c.Args, "coffer-address"); got != addr {
		t.Errorf("-coffer-address=%s, want %s", got, addr)
	}
	np := into[networkingv1.NetworkPolicy](t, r.find(t, "NetworkPolicy", "coffer-csi-provider"))
	if len(np.Spec.Ingress) != 0 || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("CSI NetworkPolicy = %+v, want all ingress denied", np.Spec)
	}
}

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}
