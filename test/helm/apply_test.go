package helm

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cofferhq/coffer/test/kubetest"
)

// TestChartApply applies the rendered chart, dev and production values (three
// servers on raft) and production on a single node, to a real
// kube-apiserver: every object must be accepted as rendered (the API
// server validates pod templates, webhooks, RBAC and policies), the raft
// StatefulSet is stored with its replicas, headless Service and
// disruption budget as rendered, and the
// production webhook (failurePolicy Fail) must be in force: a pod created
// outside the release's namespace is sent to the injector's Service, which
// has no pods here, so it is refused, while the release's namespace is
// excluded. The namespace enforces the restricted Pod Security level: the
// server's and the injector's pods are admitted under it, the CSI
// provider's (hostPath, UID 0) is not, as the chart's README says.
func TestChartApply(t *testing.T) {
	kc := kubetest.Shared(t)
	single := map[string]any{"server": map[string]any{"ha": map[string]any{"enabled": false, "raft": map[string]any{"enabled": false}}}}
	for name, tc := range map[string]struct {
		file string
		set  map[string]any
	}{"dev": {"", nil}, "production": {"values-production.yaml", nil}, "single": {"values-production.yaml", single}} {
		t.Run(name, func(t *testing.T) {
			ns := kc.NewNamespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
			release := name
			file := tc.file
			r := render(t, release, ns, file, tc.set)
			stored := kc.Apply(t, ns, r.objs...)
			for i, o := range stored {
				if o.GetKind() != r.objs[i].GetKind() || o.GetName() != r.objs[i].GetName() || o.GetUID() == "" {
					t.Errorf("applied %s %s, stored %s %s", r.objs[i].GetKind(), r.objs[i].GetName(), o.GetKind(), o.GetName())
				}
			}
			checkStoredWebhook(t, kc, release+"-coffer-agent-injector.coffer.io")
			if name == "production" {
				checkStoredRaft(t, kc, ns, release+"-coffer")
			}
			checkPodSecurityAdmission(t, kc, ns, r)
			if file != "" {
				checkWebhookInForce(t, kc, ns, release+"-coffer-injector")
			}
		})
	}
}

// checkStoredWebhook: the API server kept a non-empty caBundle.
func checkStoredWebhook(t *testing.T, kc *kubetest.Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wh, err := kc.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(wh.Webhooks) != 1 || len(wh.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Errorf("stored webhook = %+v", wh.Webhooks)
	}
}

// checkStoredRaft: what the API server kept of the raft StatefulSet, its
// headless Service and its disruption budget (defaults filled in) still
// says three pods, each reachable before it is ready on both ports.
func checkStoredRaft(t *testing.T, kc *kubetest.Cluster, ns, fullname string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sts, err := kc.Client.AppsV1().StatefulSets(ns).Get(ctx, fullname+"-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != fullname+"-internal" || len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("stored StatefulSet: replicas %d, serviceName %q, claims %d", *sts.Spec.Replicas, sts.Spec.ServiceName, len(sts.Spec.VolumeClaimTemplates))
	}
	svc, err := kc.Client.CoreV1().Services(ns).Get(ctx, fullname+"-internal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Port != 8201 {
		t.Errorf("stored headless Service = %+v", svc.Spec)
	}
	pdb, err := kc.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, fullname+"-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("stored PodDisruptionBudget = %+v", pdb.Spec)
	}
}

// checkWebhookInForce: pods outside the release's namespace reach the
// webhook (and, with no injector running, are refused); pods inside it do
// not.
func checkWebhookInForce(t *testing.T, kc *kubetest.Cluster, releaseNS, service string) {
	t.Helper()
	other := kc.NewNamespace(t, nil)
	kc.CreateServiceAccount(t, other, "app")
	kc.CreateServiceAccount(t, releaseNS, "app")
	deadline := time.Now().Add(time.Minute)
	for {
		err := dryRunPod(kc, other)
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			if !strings.Contains(err.Error(), service) {
				t.Errorf("refused by another webhook: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chart's webhook is not called a minute after it was applied (last: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := dryRunPod(kc, releaseNS); err != nil {
		t.Errorf("a pod in the release's own namespace: %v; the webhook must exclude it", err)
	}
}

// dryRunPod asks to create an annotated pod in ns without storing it.
func dryRunPod(kc *kubetest.Cluster, ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			"coffer.io/agent-inject": "true", "coffer.io/role": "web",
			"coffer.io/agent-inject-secret-db": "database/creds/app",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "app",
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		},
	}
	_, err := kc.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// checkPodSecurityAdmission creates (dry run) the pod of each workload in
// the restricted namespace ns.
func checkPodSecurityAdmission(t *testing.T, kc *kubetest.Cluster, ns string, r *rendered) {
	t.Helper()
	for _, o := range r.objs {
		var tmpl corev1.PodTemplateSpec
		switch o.GetKind() {
		case "StatefulSet":
			sts := into[appsv1.StatefulSet](t, o)
			tmpl = sts.Spec.Template
			for _, c := range sts.Spec.VolumeClaimTemplates { // the StatefulSet controller's part
				tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + sts.Name + "-0"}}})
			}
		case "Deployment":
			tmpl = into[appsv1.Deployment](t, o).Spec.Template
		case "DaemonSet":
			tmpl = into[appsv1.DaemonSet](t, o).Spec.Template
		default:
			continue
		}
		pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
		pod.Name = o.GetName() + "-0"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := kc.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		cancel()
		switch {
		case o.GetKind() == "DaemonSet" && (err == nil || !strings.Contains(err.Error(), "violates PodSecurity")):
			t.Errorf("the CSI provider's pod in a restricted namespace: %v, want a PodSecurity refusal", err)
		case o.GetKind() != "DaemonSet" && err != nil:
			t.Errorf("%s %s: its pod is refused: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
