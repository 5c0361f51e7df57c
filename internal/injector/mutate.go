package injector

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Mutation is the injector's answer for one pod.
type Mutation struct {
	// Patch is a JSON Patch (RFC 6902) of the pod; nil when the pod is
	// left as it is.
	Patch []byte
	// Warnings are for the client that created the pod.
	Warnings []string
}

// patchOp is one JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Mutate decides what to add to pod. A pod that does not ask for agents,
// or already has them, gets no patch. Mistakes in its annotations are
// errors wrapping ErrBadAnnotation with a message that names the
// annotation; other errors are internal. It never modifies pod.
func (inj *Injector) Mutate(pod *corev1.Pod) (*Mutation, error) {
	want, err := wantsInjection(pod.Annotations)
	if err != nil || !want {
		return &Mutation{}, err
	}
	s, err := parseSpec(pod.Annotations)
	if err != nil {
		return nil, err
	}
	if err := checkNames(pod); err != nil {
		return nil, err
	}
	var ops []patchOp
	secretsMount := corev1.VolumeMount{Name: SecretsVolumeName, MountPath: SecretsDir, ReadOnly: true}
	// Mounts into the pod's own containers come first, while their
	// indexes are still those of the pod as sent.
	ops = appendMounts(ops, "/spec/initContainers", pod.Spec.InitContainers, secretsMount)
	ops = appendMounts(ops, "/spec/containers", pod.Spec.Containers, secretsMount)
	ops = appendList(ops, "/spec/volumes", len(pod.Spec.Volumes) > 0, inj.volumes(s))

	agents, err := inj.agentOps(pod, s)
	if err != nil {
		return nil, err
	}
	ops = append(ops, agents...)
	ops = append(ops, patchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(StatusAnnotation), Value: StatusInjected})
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	return &Mutation{Patch: patch, Warnings: s.Warnings}, nil
}

// agentOps adds the agent containers: an init container that renders the
// files once (pre-populate) and a sidecar in containers that keeps them
// fresh, or, as a native sidecar, one init container that does both.
func (inj *Injector) agentOps(pod *corev1.Pod, s *spec) ([]patchOp, error) {
	native := inj.cfg.NativeSidecar && !s.PrePopulateOnly
	if s.NativeSidecar != nil {
		native = *s.NativeSidecar
	}
	var ops []patchOp
	if native || s.PrePopulate {
		var c corev1.Container
		var err error
		if native {
			c, err = inj.nativeSidecar(s)
		} else {
			c, err = inj.container(InitContainerName, s, true)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case len(pod.Spec.InitContainers) == 0:
			ops = append(ops, patchOp{Op: "add", Path: "/spec/initContainers", Value: []corev1.Container{c}})
		case s.InitFirst:
			ops = append(ops, patchOp{Op: "add", Path: "/spec/initContainers/0", Value: c})
		default:
			ops = append(ops, patchOp{Op: "add", Path: "/spec/initContainers/-", Value: c})
		}
	}
	if !native && !s.PrePopulateOnly {
		c, err := inj.container(SidecarContainerName, s, false)
		if err != nil {
			return nil, err
		}
		ops = append(ops, patchOp{Op: "add", Path: "/spec/containers/-", Value: c})
	}
	return ops, nil
}

// nativeSidecar is the sidecar as an init container with restartPolicy
// Always: the kubelet starts it in the init containers' order, keeps it
// running beside the pod's containers and stops it after them. Unless
// pre-populate is off, its startup probe (`coffer agent -rendered`)
// succeeds once every file has been rendered, and the kubelet starts the
// containers that follow only then. 300 failures a second apart (5 min)
// make the kubelet restart it, as an init container that exhausted its
// retries would be.
func (inj *Injector) nativeSidecar(s *spec) (corev1.Container, error) {
	c, err := inj.container(SidecarContainerName, s, false)
	if err != nil {
		return c, err
	}
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	if s.PrePopulate {
		c.StartupProbe = &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: []string{"coffer", "agent", "-config-env=" + ConfigEnv, "-rendered"},
			}},
			PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 300,
		}
	}
	return c, nil
}

// checkNames refuses a pod without containers, or that already uses the
// names or the mount point the injector adds, which the API server would
// refuse with a less helpful message.
func checkNames(pod *corev1.Pod) error {
	if len(pod.Spec.Containers) == 0 {
		// The sidecar's "add /spec/containers/-" would not apply, and the
		// API server would answer an internal error instead of this.
		return badf("the pod has no containers: give it at least one")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == SecretsVolumeName || v.Name == TokenVolumeName || v.Name == TLSVolumeName {
			return badf("the pod already has a volume named %q, which the injector adds: rename it", v.Name)
		}
	}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		if c.Name == InitContainerName || c.Name == SidecarContainerName {
			return badf("the pod already has a container named %q, which the injector adds: rename it", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if strings.TrimRight(m.MountPath, "/") == SecretsDir {
				return badf("container %q already mounts something at %s, where the injector mounts the secrets", c.Name, SecretsDir)
			}
		}
	}
	return nil
}

// appendMounts adds m to every container of the list at base.
func appendMounts(ops []patchOp, base string, cs []corev1.Container, m corev1.VolumeMount) []patchOp {
	for i, c := range cs {
		ops = appendList(ops, fmt.Sprintf("%s/%d/volumeMounts", base, i), len(c.VolumeMounts) > 0, []any{m})
	}
	return ops
}

// appendList appends items to the array at path, creating it when the
// pod has none (a JSON Patch "add" to "…/-" needs the array to exist).
func appendList[T any](ops []patchOp, path string, exists bool, items []T) []patchOp {
	if !exists {
		return append(ops, patchOp{Op: "add", Path: path, Value: items})
	}
	for _, it := range items {
		ops = append(ops, patchOp{Op: "add", Path: path + "/-", Value: it})
	}
	return ops
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// volumes are the in-memory secrets volume, the projected token and, when
// the pod names one, its TLS Secret.
func (inj *Injector) volumes(s *spec) []corev1.Volume {
	seconds := int64(inj.cfg.TokenExpiration.Seconds())
	vs := []corev1.Volume{
		{Name: SecretsVolumeName, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory},
		}},
		{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: inj.cfg.Audience, ExpirationSeconds: &seconds, Path: "token",
				},
			}}},
		}},
	}
	if s.TLSSecret != "" {
		mode := int32(0o444)
		vs = append(vs, corev1.Volume{Name: TLSVolumeName, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: s.TLSSecret, DefaultMode: &mode},
		}})
	}
	return vs
}

// container is the init container (once) or the sidecar.
func (inj *Injector) container(name string, s *spec, once bool) (corev1.Container, error) {
	cfg, err := inj.agentConfig(s, once)
	if err != nil {
		return corev1.Container{}, err
	}
	user, group := inj.cfg.RunAsUser, inj.cfg.RunAsGroup
	if s.RunAsUser != nil {
		user = *s.RunAsUser
	}
	if s.RunAsGroup != nil {
		group = *s.RunAsGroup
	}
	mounts := []corev1.VolumeMount{
		{Name: SecretsVolumeName, MountPath: SecretsDir},
		{Name: TokenVolumeName, MountPath: TokenDir, ReadOnly: true},
	}
	if s.TLSSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: TLSVolumeName, MountPath: TLSDir, ReadOnly: true})
	}
	return corev1.Container{
		Name:            name,
		Image:           inj.cfg.AgentImage,
		Command:         []string{"coffer", "agent", "-config-env=" + ConfigEnv},
		Env:             []corev1.EnvVar{{Name: ConfigEnv, Value: encodeConfig(cfg)}},
		VolumeMounts:    mounts,
		Resources:       *inj.cfg.Resources.DeepCopy(),
		SecurityContext: leastPrivilege(user, group),
	}, nil
}

// leastPrivilege is the agents' security context: not root, nothing
// written outside the volumes, no way to gain privileges, no capabilities.
func leastPrivilege(user, group int64) *corev1.SecurityContext {
	yes, no := true, false
	return &corev1.SecurityContext{
		RunAsUser:                &user,
		RunAsGroup:               &group,
		RunAsNonRoot:             &yes,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		Privileged:               &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
