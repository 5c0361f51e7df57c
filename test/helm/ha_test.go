package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/cofferhq/coffer/internal/config"
)

// haValues switches the production values to n replicas with set merged in.
func haValues(n int, set map[string]any) map[string]any {
	out := map[string]any{"server": map[string]any{"ha": map[string]any{"replicas": n}}}
	for k, v := range set {
		out["server"].(map[string]any)[k] = v
	}
	return out
}

// TestChartHA renders values-production.yaml (three servers on raft) and
// follows what each pod would run: the kubelet's expansion of its
// environment, then the server's own parser and environment overrides,
// must give every pod its own node id and addresses, under the headless
// Service, and a retry_join for every pod of the StatefulSet.
func TestChartHA(t *testing.T) {
	r := render(t, "coffer", "coffer", "values-production.yaml", nil)
	sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
	if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != "coffer-internal" || len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("StatefulSet: replicas %d, serviceName %q, claims %d; want 3, coffer-internal, 1 (one volume per pod)",
			*sts.Spec.Replicas, sts.Spec.ServiceName, len(sts.Spec.VolumeClaimTemplates))
	}
	spec := sts.Spec.Template.Spec
	c := spec.Containers[0]
	if p := containerPort(c, "cluster"); p != 8201 {
		t.Errorf("container port cluster = %d, want 8201", p)
	}
	checkHAServices(t, r, 8200)
	cfg := serverConfig(t, r)
	if cfg.Storage.Type != config.StorageRaft || cfg.Storage.Path != "/coffer/data/raft" {
		t.Errorf("storage = %+v, want raft under the volume (/coffer/data)", cfg.Storage)
	}
	if got := cfg.Listeners[0].ClusterAddress; got != "[::]:8201" {
		t.Errorf("cluster_address = %q", got)
	}
	var wantJoins []string
	for i := range 3 {
		wantJoins = append(wantJoins, fmt.Sprintf("https://coffer-server-%d.coffer-internal.coffer.svc:8200", i))
	}
	checkRetryJoin(t, cfg, wantJoins, "/coffer/tls/ca.crt", "")
	if !mounts(c, "tls", "/coffer/tls") || volume(spec, "tls").Secret.SecretName != "coffer-server-tls" {
		t.Errorf("retry_join's CA is not under the TLS Secret's mount: %+v", c.VolumeMounts)
	}
	for i := range 3 {
		pod := fmt.Sprintf("coffer-server-%d", i)
		env := kubeletEnv(t, c.Env, pod)
		podCfg := serverConfig(t, r)
		if err := podCfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
			t.Fatalf("%s: the server refuses its environment: %v", pod, err)
		}
		host := pod + "." + sts.Spec.ServiceName + ".coffer.svc"
		if podCfg.Storage.Raft.NodeID != pod || podCfg.APIAddr != "https://"+host+":8200" || podCfg.ClusterAddr != "https://"+host+":8201" {
			t.Errorf("%s: node_id %q api_addr %q cluster_addr %q; want its name and its DNS name under the headless Service",
				pod, podCfg.Storage.Raft.NodeID, podCfg.APIAddr, podCfg.ClusterAddr)
		}
		if !slices.Contains(wantJoins, podCfg.APIAddr) {
			t.Errorf("%s: api_addr %q is not among the retry_join addresses", pod, podCfg.APIAddr)
		}
	}
	// Ready means unsealed, so the client Service reaches only servers that
	// answer; sealed pods are alive, and their peers reach them through the
	// headless Service, which publishes pods that are not ready.
	if p := c.ReadinessProbe; p == nil || p.HTTPGet.Path != "/v1/sys/health?standbyok=true" {
		t.Errorf("readiness probe = %+v, want ready once unsealed, standbys included", p)
	}
	if p := c.LivenessProbe; p == nil || !strings.Contains(p.HTTPGet.Path, "sealedcode=204&uninitcode=204") {
		t.Errorf("liveness probe = %+v", p)
	}
	checkAntiAffinity(t, sts)
	pdb := into[policyv1.PodDisruptionBudget](t, r.find(t, "PodDisruptionBudget", "coffer-server"))
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
		!reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget = %+v, want maxUnavailable 1 over the server pods", pdb.Spec)
	}
	checkHAPolicy(t, r, sts)
	checkWorkloads(t, r)
	if !strings.Contains(r.notes, "coffer-server-2 -- coffer operator unseal") || !strings.Contains(r.notes, "retry_join") {
		t.Errorf("NOTES do not tell how to unseal every server:\n%s", r.notes)
	}
}

// TestChartHAOptions: the values that change the raft configuration, and
// the combinations the chart refuses.
func TestChartHAOptions(t *testing.T) {
	t.Run("five replicas", func(t *testing.T) {
		r := render(t, "vault", "secrets", "values-production.yaml", haValues(5, nil))
		sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "vault-coffer-server"))
		var want []string
		for i := range 5 {
			want = append(want, fmt.Sprintf("https://vault-coffer-server-%d.vault-coffer-internal.secrets.svc:8200", i))
		}
		if *sts.Spec.Replicas != 5 {
			t.Errorf("replicas = %d", *sts.Spec.Replicas)
		}
		checkRetryJoin(t, serverConfig(t, r), want, "/coffer/tls/ca.crt", "")
	})
	t.Run("no TLS", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "values-production.yaml", haValues(3, map[string]any{"tls": map[string]any{"enabled": false}}))
		cfg := serverConfig(t, r)
		checkRetryJoin(t, cfg, []string{"http://coffer-server-0.coffer-internal.coffer.svc:8200",
			"http://coffer-server-1.coffer-internal.coffer.svc:8200", "http://coffer-server-2.coffer-internal.coffer.svc:8200"}, "", "")
		sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
		env := kubeletEnv(t, sts.Spec.Template.Spec.Containers[0].Env, "coffer-server-0")
		if env["COFFER_API_ADDR"] != "http://coffer-server-0.coffer-internal.coffer.svc:8200" {
			t.Errorf("COFFER_API_ADDR = %q, want http (the listener has no TLS)", env["COFFER_API_ADDR"])
		}
	})
	t.Run("public CA, one certificate name, tuning", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "values-production.yaml", haValues(3, map[string]any{
			"tls": map[string]any{"caKey": ""},
			"ha": map[string]any{"raft": map[string]any{"leaderTLSServerName": "coffer.example.com", "performanceMultiplier": 2},
				"apiAddr": "https://$(POD_NAME).coffer.example.com:8200"},
		}))
		cfg := serverConfig(t, r)
		checkRetryJoin(t, cfg, nil, "", "coffer.example.com")
		if cfg.Storage.Raft.PerformanceMultiplier != 2 {
			t.Errorf("performance_multiplier = %d", cfg.Storage.Raft.PerformanceMultiplier)
		}
		sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
		if env := kubeletEnv(t, sts.Spec.Template.Spec.Containers[0].Env, "coffer-server-1"); env["COFFER_API_ADDR"] != "https://coffer-server-1.coffer.example.com:8200" {
			t.Errorf("COFFER_API_ADDR = %q", env["COFFER_API_ADDR"])
		}
	})
	t.Run("own affinity replaces the default", func(t *testing.T) {
		own := map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "pool", "operator": "In", "values": []any{"secrets"}}}}}}}}
		r := render(t, "coffer", "coffer", "values-production.yaml", haValues(3, map[string]any{"affinity": own}))
		a := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server")).Spec.Template.Spec.Affinity
		if a == nil || a.NodeAffinity == nil || a.PodAntiAffinity != nil {
			t.Errorf("affinity = %+v, want only the one given", a)
		}
	})
	t.Run("single node stays on file storage", func(t *testing.T) {
		r := render(t, "coffer", "coffer", "values-production.yaml", map[string]any{"server": map[string]any{"ha": map[string]any{"enabled": false, "raft": map[string]any{"enabled": false}}}})
		sts := into[appsv1.StatefulSet](t, r.find(t, "StatefulSet", "coffer-server"))
		if *sts.Spec.Replicas != 1 || sts.Spec.Template.Spec.Affinity != nil || containerPort(sts.Spec.Template.Spec.Containers[0], "cluster") != 0 {
			t.Errorf("single node: replicas %d, affinity %+v", *sts.Spec.Replicas, sts.Spec.Template.Spec.Affinity)
		}
		if cfg := serverConfig(t, r); cfg.Storage.Type != config.StorageFile || cfg.APIAddr != "https://coffer.coffer.svc:8200" {
			t.Errorf("single node: storage %q api_addr %q", cfg.Storage.Type, cfg.APIAddr)
		}
		svc := into[corev1.Service](t, r.find(t, "Service", "coffer-internal"))
		if len(svc.Spec.Ports) != 1 {
			t.Errorf("single node headless Service ports = %+v, want the API only", svc.Spec.Ports)
		}
	})
	for name, tc := range map[string]struct {
		set  map[string]any
		want string
	}{
		"ha without raft": {map[string]any{"server": map[string]any{"ha": map[string]any{"raft": map[string]any{"enabled": false}}}},
			"server.ha.enabled and server.ha.raft.enabled go together"},
		"raft without ha": {map[string]any{"server": map[string]any{"ha": map[string]any{"enabled": false}}},
			"server.ha.enabled and server.ha.raft.enabled go together"},
		"ha in dev mode": {map[string]any{"server": map[string]any{"dev": map[string]any{"enabled": true}}},
			"set server.dev.enabled=false"},
		"no replicas": {haValues(0, nil), "server.ha.replicas must be at least 1"},
		"one api_addr for every pod": {haValues(3, map[string]any{"apiAddr": "https://coffer.example.com:8200"}),
			"set server.ha.apiAddr"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := errorOf(t, "values-production.yaml", tc.set); !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// checkRetryJoin: one retry_join per address in order (any number when
// addrs is nil), each trusting caFile (read by the parser: see
// serverConfig) and checking serverName.
func checkRetryJoin(t *testing.T, cfg *config.Server, addrs []string, caFile, serverName string) {
	t.Helper()
	joins := cfg.Storage.Raft.RetryJoin
	if addrs != nil && len(joins) != len(addrs) {
		t.Fatalf("%d retry_join blocks, want %d: %+v", len(joins), len(addrs), joins)
	}
	for i, j := range joins {
		if addrs != nil && j.LeaderAPIAddr != addrs[i] {
			t.Errorf("retry_join %d: leader_api_addr %q, want %q", i, j.LeaderAPIAddr, addrs[i])
		}
		if j.LeaderCACertFile != caFile || (caFile != "" && j.LeaderCACert != fakePEM) || j.LeaderTLSServerName != serverName {
			t.Errorf("retry_join %d: CA file %q (read: %t), server name %q; want %q, %q",
				i, j.LeaderCACertFile, j.LeaderCACert != "", j.LeaderTLSServerName, caFile, serverName)
		}
	}
}

// checkHAServices: the headless Service names every pod, ready or not, on
// the API and the cluster port; the clients' Service has no cluster port.
func checkHAServices(t *testing.T, r *rendered, apiPort int32) {
	t.Helper()
	hl := into[corev1.Service](t, r.find(t, "Service", "coffer-internal"))
	want := []corev1.ServicePort{
		{Name: "api", Port: apiPort, Protocol: corev1.ProtocolTCP},
		{Name: "cluster", Port: 8201, Protocol: corev1.ProtocolTCP},
	}
	var got []corev1.ServicePort
	for _, p := range hl.Spec.Ports {
		got = append(got, corev1.ServicePort{Name: p.Name, Port: p.Port, Protocol: p.Protocol})
		if p.TargetPort.String() != p.Name {
			t.Errorf("headless port %s targets %s", p.Name, p.TargetPort.String())
		}
	}
	if hl.Spec.ClusterIP != corev1.ClusterIPNone || !hl.Spec.PublishNotReadyAddresses || !reflect.DeepEqual(got, want) {
		t.Errorf("headless Service: clusterIP %q, publishNotReadyAddresses %t, ports %+v; want None, true, %+v",
			hl.Spec.ClusterIP, hl.Spec.PublishNotReadyAddresses, got, want)
	}
	svc := into[corev1.Service](t, r.find(t, "Service", "coffer"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != apiPort || svc.Spec.PublishNotReadyAddresses {
		t.Errorf("client Service ports %+v, publishNotReadyAddresses %t; want the API only, ready pods only",
			svc.Spec.Ports, svc.Spec.PublishNotReadyAddresses)
	}
}

// checkAntiAffinity: by default no two server pods share a node.
func checkAntiAffinity(t *testing.T, sts *appsv1.StatefulSet) {
	t.Helper()
	a := sts.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("affinity = %+v, want a required podAntiAffinity", a)
	}
	term := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.TopologyKey != "kubernetes.io/hostname" || !reflect.DeepEqual(term.LabelSelector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		t.Errorf("anti-affinity term = %+v, want the server pods per hostname", term)
	}
}

// checkHAPolicy: the servers reach each other's API and cluster port.
func checkHAPolicy(t *testing.T, r *rendered, sts *appsv1.StatefulSet) {
	t.Helper()
	np := into[networkingv1.NetworkPolicy](t, r.find(t, "NetworkPolicy", "coffer-server"))
	for _, rule := range np.Spec.Ingress {
		var ports []int
		for _, p := range rule.Ports {
			ports = append(ports, p.Port.IntValue())
		}
		if slices.Contains(ports, 8201) {
			if !reflect.DeepEqual(ports, []int{8200, 8201}) || len(rule.From) != 1 || rule.From[0].PodSelector == nil ||
				!reflect.DeepEqual(rule.From[0].PodSelector.MatchLabels, sts.Spec.Selector.MatchLabels) {
				t.Errorf("cluster port rule = %+v, want 8200 and 8201 from the server pods only", rule)
			}
			return
		}
	}
	t.Errorf("NetworkPolicy %+v opens no cluster port between the servers", np.Spec.Ingress)
}

var envRefRe = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// kubeletEnv is the environment the kubelet gives the container of pod:
// fieldRef metadata.name is the pod's name, and $(NAME) expands to a
// variable defined earlier in the list (a later or unknown one stays as
// written, as in Kubernetes).
func kubeletEnv(t *testing.T, vars []corev1.EnvVar, pod string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, v := range vars {
		switch {
		case v.ValueFrom == nil:
			env[v.Name] = envRefRe.ReplaceAllStringFunc(v.Value, func(ref string) string {
				if val, ok := env[ref[2:len(ref)-1]]; ok {
					return val
				}
				return ref
			})
		case v.ValueFrom.FieldRef != nil && v.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[v.Name] = pod
		}
	}
	return env
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func mounts(c corev1.Container, vol, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == vol && m.MountPath == path {
			return true
		}
	}
	return false
}

// fakePEM is what the test puts where the pod mounts the TLS Secret.
const fakePEM = "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"

var joinFileRe = regexp.MustCompile(`(leader_\w+_file\s*=\s*)"/coffer/tls/([^"]+)"`)

// withMountedFiles points the files that the parser reads (retry_join's
// leader_*_file) at copies in a temporary directory and returns the
// configuration's text and a function giving the pod's paths back.
func withMountedFiles(t *testing.T, hcl string) (string, func(*config.Server)) {
	t.Helper()
	dir := t.TempDir()
	for _, m := range joinFileRe.FindAllStringSubmatch(hcl, -1) {
		if err := os.WriteFile(filepath.Join(dir, m[2]), []byte(fakePEM), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hcl = joinFileRe.ReplaceAllString(hcl, `$1"`+dir+`/$2"`)
	return hcl, func(cfg *config.Server) {
		for i := range cfg.Storage.Raft.RetryJoin {
			j := &cfg.Storage.Raft.RetryJoin[i]
			for _, f := range []*string{&j.LeaderCACertFile, &j.LeaderClientCertFile, &j.LeaderClientKeyFile} {
				if rest, ok := strings.CutPrefix(*f, dir+"/"); ok {
					*f = "/coffer/tls/" + rest
				}
			}
		}
	}
}
