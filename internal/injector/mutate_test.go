package injector

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/cofferhq/coffer/internal/config"
)

func cofferAnnotations() map[string]string {
	return map[string]string{
		"coffer.io/agent-inject":               "true",
		"coffer.io/role":                       "web",
		"coffer.io/agent-inject-secret-db":     "database/creds/app",
		"coffer.io/agent-inject-template-db":   `{{ with secret "database/creds/app" }}{{ .Data.connection_url }}{{ end }}`,
		"coffer.io/agent-inject-file-db":       "db/url",
		"coffer.io/agent-inject-command-db":    "kill -HUP 1",
		"coffer.io/agent-inject-perms-db":      "0440",
		"coffer.io/agent-inject-secret-config": "secret/data/app/config",
		"unrelated.example/keep":               "yes",
	}
}

// TestMutateInjects checks the whole patched pod: init container and
// sidecar with their generated configurations, volumes, mounts in every
// container, least privilege, the status annotation.
func TestMutateInjects(t *testing.T) {
	t.Parallel()
	pod := testPod(cofferAnnotations())
	got, m := mutated(t, testInjector(t), pod)
	if len(m.Warnings) != 0 {
		t.Errorf("warnings = %v, want none", m.Warnings)
	}
	if got.Annotations[StatusAnnotation] != StatusInjected || got.Annotations["unrelated.example/keep"] != "yes" {
		t.Errorf("annotations = %v", got.Annotations)
	}

	// The pod's own init container stays first; ours is appended.
	if len(got.Spec.InitContainers) != 2 || got.Spec.InitContainers[0].Name != "migrate" || got.Spec.InitContainers[1].Name != InitContainerName {
		t.Fatalf("init containers = %v", names(got.Spec.InitContainers))
	}
	if len(got.Spec.Containers) != 3 || got.Spec.Containers[2].Name != SidecarContainerName {
		t.Fatalf("containers = %v", names(got.Spec.Containers))
	}
	init, side := got.Spec.InitContainers[1], got.Spec.Containers[2]
	for _, c := range []corev1.Container{init, side} {
		checkAgentContainer(t, c)
	}

	initCfg, sideCfg := agentConfigOf(t, init), agentConfigOf(t, side)
	if !initCfg.ExitAfterAuth || !initCfg.TemplateConfig.ExitOnRetryFailure || sideCfg.ExitAfterAuth {
		t.Errorf("exit_after_auth: init %v (exit_on_retry_failure %v), sidecar %v; want true, true, false",
			initCfg.ExitAfterAuth, initCfg.TemplateConfig.ExitOnRetryFailure, sideCfg.ExitAfterAuth)
	}
	for _, cfg := range []*config.Agent{initCfg, sideCfg} {
		meth := cfg.AutoAuth.Method
		if meth.Type != "kubernetes" || meth.Role != "web" || meth.MountPath != "auth/kubernetes" || meth.TokenPath != "/coffer/token/token" {
			t.Errorf("auto_auth method = %+v", meth)
		}
		if cfg.Server.Address != "https://coffer.coffer.svc:8200" {
			t.Errorf("address = %q", cfg.Server.Address)
		}
		if len(cfg.Templates) != 2 {
			t.Fatalf("templates = %+v", cfg.Templates)
		}
		conf, db := cfg.Templates[0], cfg.Templates[1]
		if conf.Destination != "/coffer/secrets/config" || conf.Perms != DefaultPerms ||
			!strings.Contains(conf.Contents, `secret "secret/data/app/config"`) || conf.Command != nil {
			t.Errorf("default template = %+v", conf)
		}
		if db.Destination != "/coffer/secrets/db/url" || db.Perms != 0o440 ||
			db.Contents != cofferAnnotations()["coffer.io/agent-inject-template-db"] ||
			!reflect.DeepEqual(db.Command, []string{"/bin/sh", "-c", "kill -HUP 1"}) {
			t.Errorf("db template = %+v", db)
		}
	}

	// Every container of the pod sees the secrets, read-only.
	for _, c := range append(append([]corev1.Container{}, got.Spec.InitContainers[:1]...), got.Spec.Containers[:2]...) {
		if !hasMount(c, SecretsVolumeName, SecretsDir, true) {
			t.Errorf("container %s mounts %+v, want %s at %s read-only", c.Name, c.VolumeMounts, SecretsVolumeName, SecretsDir)
		}
	}
	if !hasMount(got.Spec.Containers[0], "data", "/data", false) {
		t.Error("the app's own mount was lost")
	}

	if v := findVolume(got.Spec.Volumes, "data"); v == nil {
		t.Error("the pod's own volume was lost")
	}
	sv := findVolume(got.Spec.Volumes, SecretsVolumeName)
	if sv == nil || sv.EmptyDir == nil || sv.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("secrets volume = %+v, want an in-memory emptyDir", sv)
	}
	tv := findVolume(got.Spec.Volumes, TokenVolumeName)
	if tv == nil || tv.Projected == nil || len(tv.Projected.Sources) != 1 || tv.Projected.Sources[0].ServiceAccountToken == nil {
		t.Fatalf("token volume = %+v", tv)
	}
	if sat := tv.Projected.Sources[0].ServiceAccountToken; sat.Audience != "coffer" || sat.Path != "token" || *sat.ExpirationSeconds != 3600 {
		t.Errorf("projected token = %+v", sat)
	}
}

// checkAgentContainer asserts what every injected container has.
func checkAgentContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	if c.Image != "registry.example/coffer:1.0" ||
		!reflect.DeepEqual(c.Command, []string{"coffer", "agent", "-config-env=" + ConfigEnv}) {
		t.Errorf("%s: image %q command %q", c.Name, c.Image, c.Command)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != DefaultRunAsUser ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Privileged == nil || *sc.Privileged ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: security context %+v is not least privilege", c.Name, sc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s limit %s", c.Name, res, req.String(), lim.String())
		}
	}
	if !hasMount(c, SecretsVolumeName, SecretsDir, false) || !hasMount(c, TokenVolumeName, TokenDir, true) {
		t.Errorf("%s: mounts %+v", c.Name, c.VolumeMounts)
	}
}

func hasMount(c corev1.Container, vol, path string, ro bool) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == vol && m.MountPath == path && m.ReadOnly == ro {
			return true
		}
	}
	return false
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// TestVaultAliases: the same annotations under vault.hashicorp.com/ give
// the same pod, and mixing both spellings with one value each is fine.
func TestVaultAliases(t *testing.T) {
	t.Parallel()
	inj := testInjector(t)
	want, _ := mutated(t, inj, testPod(cofferAnnotations()))
	vault := map[string]string{}
	mixed := map[string]string{}
	i := 0
	for k, v := range cofferAnnotations() {
		vk := strings.Replace(k, PrefixCoffer, PrefixVault, 1)
		vault[vk] = v
		if i%2 == 0 {
			mixed[k] = v
		} else {
			mixed[vk] = v
		}
		i++
	}
	for name, ann := range map[string]map[string]string{"vault": vault, "mixed": mixed} {
		got, _ := mutated(t, inj, testPod(ann))
		for k := range ann {
			delete(got.Annotations, k)
		}
		w := want.DeepCopy()
		for k := range cofferAnnotations() {
			delete(w.Annotations, k)
		}
		if !reflect.DeepEqual(got.Spec, w.Spec) || !reflect.DeepEqual(got.Annotations, w.Annotations) {
			t.Errorf("%s: the pod differs from the coffer.io one", name)
		}
	}
}

// TestMutateVariants covers pre-populate-only, no pre-population, init
// first, pods without volumes or mounts, and per-pod overrides.
func TestMutateVariants(t *testing.T) {
	t.Parallel()
	inj := testInjector(t)
	base := map[string]string{"coffer.io/agent-inject": "true", "coffer.io/role": "r", "coffer.io/agent-inject-secret-a": "kv/a"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	t.Run("pre-populate-only", func(t *testing.T) {
		got, _ := mutated(t, inj, testPod(with(map[string]string{"coffer.io/agent-pre-populate-only": "true"})))
		if i, _ := findContainer(got.Spec.Containers, SidecarContainerName); i >= 0 {
			t.Error("sidecar injected with pre-populate-only")
		}
		if i, _ := findContainer(got.Spec.InitContainers, InitContainerName); i < 0 {
			t.Error("no init container")
		}
	})
	t.Run("no pre-population", func(t *testing.T) {
		got, _ := mutated(t, inj, testPod(with(map[string]string{"vault.hashicorp.com/agent-pre-populate": "false"})))
		if i, _ := findContainer(got.Spec.InitContainers, InitContainerName); i >= 0 {
			t.Error("init container injected with agent-pre-populate false")
		}
		if i, _ := findContainer(got.Spec.Containers, SidecarContainerName); i < 0 {
			t.Error("no sidecar")
		}
	})
	t.Run("init first", func(t *testing.T) {
		got, _ := mutated(t, inj, testPod(with(map[string]string{"coffer.io/agent-init-first": "true"})))
		if got.Spec.InitContainers[0].Name != InitContainerName || !hasMount(got.Spec.InitContainers[1], SecretsVolumeName, SecretsDir, true) {
			t.Errorf("init containers = %v", names(got.Spec.InitContainers))
		}
	})
	t.Run("bare pod", func(t *testing.T) {
		pod := testPod(base)
		pod.Spec.InitContainers, pod.Spec.Volumes, pod.Spec.Containers[0].VolumeMounts = nil, nil, nil
		got, _ := mutated(t, inj, pod)
		if len(got.Spec.Volumes) != 2 || len(got.Spec.InitContainers) != 1 || !hasMount(got.Spec.Containers[0], SecretsVolumeName, SecretsDir, true) {
			t.Errorf("volumes %d, init containers %v, mounts %+v", len(got.Spec.Volumes), names(got.Spec.InitContainers), got.Spec.Containers[0].VolumeMounts)
		}
	})
	t.Run("overrides", func(t *testing.T) {
		got, _ := mutated(t, inj, testPod(with(map[string]string{
			"vault.hashicorp.com/auth-path": "auth/k8s-east", "coffer.io/service": "https://other:8200",
			"coffer.io/ca-cert": "/etc/ca.pem", "coffer.io/agent-run-as-user": "2000", "coffer.io/agent-run-as-group": "3000",
		})))
		_, side := findContainer(got.Spec.Containers, SidecarContainerName)
		cfg := agentConfigOf(t, *side)
		if cfg.AutoAuth.Method.MountPath != "auth/k8s-east" || cfg.Server.Address != "https://other:8200" || cfg.Server.CACert != "/etc/ca.pem" {
			t.Errorf("overrides not applied: %+v %+v", cfg.AutoAuth.Method, cfg.Server)
		}
		if *side.SecurityContext.RunAsUser != 2000 || *side.SecurityContext.RunAsGroup != 3000 {
			t.Errorf("run as %d:%d", *side.SecurityContext.RunAsUser, *side.SecurityContext.RunAsGroup)
		}
	})
	t.Run("tls secret", func(t *testing.T) {
		got, _ := mutated(t, inj, testPod(with(map[string]string{"vault.hashicorp.com/tls-secret": "coffer-ca"})))
		v := findVolume(got.Spec.Volumes, TLSVolumeName)
		if v == nil || v.Secret == nil || v.Secret.SecretName != "coffer-ca" {
			t.Fatalf("tls volume = %+v", v)
		}
		_, side := findContainer(got.Spec.Containers, SidecarContainerName)
		if !hasMount(*side, TLSVolumeName, TLSDir, true) || agentConfigOf(t, *side).Server.CACert != TLSDir+"/ca.crt" {
			t.Errorf("sidecar mounts %+v", side.VolumeMounts)
		}
		if hasMount(got.Spec.Containers[0], TLSVolumeName, TLSDir, true) {
			t.Error("the application container mounts the TLS secret")
		}
	})
	t.Run("vault-only settings warn", func(t *testing.T) {
		_, m := mutated(t, inj, testPod(with(map[string]string{"vault.hashicorp.com/agent-limits-cpu": "1"})))
		if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "vault.hashicorp.com/agent-limits-cpu") {
			t.Errorf("warnings = %v", m.Warnings)
		}
	})
}

// TestMutateLeavesAlone: pods without the annotation, with it false, or
// already injected get no patch; injecting twice changes nothing.
func TestMutateLeavesAlone(t *testing.T) {
	t.Parallel()
	inj := testInjector(t)
	injected, _ := mutated(t, inj, testPod(cofferAnnotations()))
	cases := map[string]*corev1.Pod{
		"no annotations":   testPod(nil),
		"other annotation": testPod(map[string]string{"coffer.io/role": "web"}),
		"false":            testPod(map[string]string{"coffer.io/agent-inject": "false", "coffer.io/role": "web"}),
		"already injected": injected,
		"vault status":     testPod(map[string]string{"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/agent-inject-status": "injected"}),
	}
	for name, pod := range cases {
		m, err := inj.Mutate(pod)
		if err != nil || m.Patch != nil {
			t.Errorf("%s: patch %s, error %v; want neither", name, m.Patch, err)
		}
	}
}

// TestBadAnnotations: every mistake is denied with a message naming what
// to fix.
func TestBadAnnotations(t *testing.T) {
	t.Parallel()
	inj := testInjector(t)
	base := map[string]string{"coffer.io/agent-inject": "true", "coffer.io/role": "r", "coffer.io/agent-inject-secret-a": "kv/a"}
	cases := map[string]struct {
		set, del map[string]string
		want     string
	}{
		"template of unknown secret": {set: map[string]string{"coffer.io/agent-inject-template-b": "x"}, want: "coffer.io/agent-inject-template-b names no secret: add coffer.io/agent-inject-secret-b"},
		"file of unknown secret":     {set: map[string]string{"vault.hashicorp.com/agent-inject-file-b": "b"}, want: "vault.hashicorp.com/agent-inject-file-b names no secret"},
		"command of unknown secret":  {set: map[string]string{"coffer.io/agent-inject-command-b": "true"}, want: "agent-inject-command-b names no secret"},
		"inject not a boolean":       {set: map[string]string{"coffer.io/agent-inject": "yes please"}, want: `coffer.io/agent-inject is "yes please"`},
		"no role":                    {del: map[string]string{"coffer.io/role": ""}, want: "coffer.io/role is required"},
		"no secret":                  {del: map[string]string{"coffer.io/agent-inject-secret-a": ""}, want: "name at least one secret"},
		"empty path":                 {set: map[string]string{"coffer.io/agent-inject-secret-a": " "}, want: "agent-inject-secret-a is empty"},
		"file escapes":               {set: map[string]string{"coffer.io/agent-inject-file-a": "../../etc/passwd"}, want: "without \"..\""},
		"absolute file":              {set: map[string]string{"coffer.io/agent-inject-file-a": "/etc/passwd"}, want: "must be relative"},
		"same file twice":            {set: map[string]string{"coffer.io/agent-inject-secret-b": "kv/b", "coffer.io/agent-inject-file-b": "a"}, want: "both written to a"},
		"bad perms":                  {set: map[string]string{"coffer.io/agent-inject-perms-a": "rw-r--r--"}, want: "octal"},
		"template does not parse":    {set: map[string]string{"coffer.io/agent-inject-template-a": "{{ with secret }"}, want: "coffer.io/agent-inject-template-a"},
		"unknown template function":  {set: map[string]string{"coffer.io/agent-inject-template-a": "{{ nosuch 1 }}"}, want: `function "nosuch" not defined`},
		"conflicting spellings":      {set: map[string]string{"vault.hashicorp.com/role": "other"}, want: "coffer.io/role and vault.hashicorp.com/role are both set"},
		"unknown coffer key":         {set: map[string]string{"coffer.io/agent-inject-secrets-a": "kv/a"}, want: "coffer.io/agent-inject-secrets-a is not an annotation the injector knows"},
		"bad secret name":            {set: map[string]string{"coffer.io/agent-inject-secret-.hidden": "kv/a"}, want: "may hold only letters"},
		"root user":                  {set: map[string]string{"coffer.io/agent-run-as-user": "0"}, want: "never runs as root"},
		"service not a URL":          {set: map[string]string{"coffer.io/service": "coffer:8200"}, want: "write a URL"},
		"no agent at all":            {set: map[string]string{"coffer.io/agent-pre-populate": "false", "coffer.io/agent-pre-populate-only": "true"}, want: "inject no agent"},
		"bad tls secret":             {set: map[string]string{"coffer.io/tls-secret": "../x"}, want: "name of a Secret"},
		"tls secret too long":        {set: map[string]string{"coffer.io/tls-secret": strings.Repeat("a", 254)}, want: "name of a Secret"},
		"control character":          {set: map[string]string{"coffer.io/role": "a\nb"}, want: "control character"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{}
			for k, v := range base {
				ann[k] = v
			}
			for k := range tc.del {
				delete(ann, k)
			}
			for k, v := range tc.set {
				ann[k] = v
			}
			_, err := inj.Mutate(testPod(ann))
			if !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want ErrBadAnnotation containing %q", err, tc.want)
			}
		})
	}
	t.Run("names taken", func(t *testing.T) {
		pod := testPod(base)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: SecretsVolumeName})
		if _, err := inj.Mutate(pod); !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), "already has a volume") {
			t.Errorf("volume: %v", err)
		}
		pod = testPod(base)
		pod.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "x", MountPath: SecretsDir + "/"}}
		if _, err := inj.Mutate(pod); !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), `"proxy" already mounts`) {
			t.Errorf("mount: %v", err)
		}
	})
	t.Run("no containers", func(t *testing.T) {
		for _, native := range []string{"true", "false"} {
			ann := map[string]string{"coffer.io/agent-native-sidecar": native}
			for k, v := range base {
				ann[k] = v
			}
			pod := testPod(ann)
			pod.Spec.Containers = nil
			if _, err := inj.Mutate(pod); !errors.Is(err, ErrBadAnnotation) || !strings.Contains(err.Error(), "no containers") {
				t.Errorf("native %s: %v", native, err)
			}
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]Config{
		"no image":      {Address: "https://c:8200"},
		"no address":    {AgentImage: "i"},
		"bare address":  {AgentImage: "i", Address: "c:8200"},
		"short token":   {AgentImage: "i", Address: "https://c", TokenExpiration: 5 * 60 * 1e9},
		"negative user": {AgentImage: "i", Address: "https://c", RunAsUser: -1},
	}
	for name, cfg := range cases {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	inj, err := New(Config{AgentImage: "i", Address: "https://c", AuthPath: "/k8s/"})
	if err != nil || inj.cfg.AuthPath != "auth/k8s" {
		t.Errorf("auth path %q, %v", inj.cfg.AuthPath, err)
	}
}

func TestDefaultPermsNotWritable(t *testing.T) {
	if DefaultPerms&0o022 != 0 || DefaultPerms&os.ModePerm != DefaultPerms {
		t.Errorf("DefaultPerms %o lets others write", DefaultPerms)
	}
}

func TestIsDNSName(t *testing.T) {
	cases := map[string]bool{
		"a": true, "coffer-ca": true, "a.b-c": true, strings.Repeat("a", 253): true,
		strings.Repeat("a", 254): false, "": false, "-a": false, "a-": false, "A": false, "a_b": false, "../x": false,
	}
	for name, want := range cases {
		if got := isDNSName(name); got != want {
			t.Errorf("isDNSName(%.20q…) = %v, want %v", name, got, want)
		}
	}
}
