package injector

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults of Config.
const (
	DefaultAuthPath        = "auth/kubernetes"
	DefaultAudience        = "coffer"
	DefaultTokenExpiration = time.Hour
	DefaultRunAsUser       = 100
	DefaultRunAsGroup      = 1000
)

// Names of what the injector adds to a pod.
const (
	InitContainerName    = "coffer-agent-init"
	SidecarContainerName = "coffer-agent"
	SecretsVolumeName    = "coffer-secrets"
	TokenVolumeName      = "coffer-token"
	TLSVolumeName        = "coffer-tls"
)

// Config is how the injector builds agent containers. AgentImage and
// Address are required; the rest have defaults.
type Config struct {
	// AgentImage is the image of the injected containers; it must hold
	// the coffer binary on its PATH.
	AgentImage string
	// Address is the Coffer server's URL as seen from the pods.
	Address string
	// CACert is a path, inside the agent containers, of the CA
	// certificate that signed the server's; empty means the system roots.
	CACert string
	// AuthPath is the kubernetes auth mount the agents log in at
	// ("auth/kubernetes"; "kubernetes" is read as that too).
	AuthPath string
	// Audience is the audience of the projected service-account token
	// (the auth role's audience must match it).
	Audience string
	// TokenExpiration is the projected token's lifetime; the kubelet
	// rotates it at 80%. At least 10 minutes (the API server's minimum).
	TokenExpiration time.Duration
	// RunAsUser and RunAsGroup are the agents' IDs unless a pod's
	// annotations say otherwise; RunAsUser is never 0.
	RunAsUser  int64
	RunAsGroup int64
	// NativeSidecar injects, unless a pod's agent-native-sidecar says
	// otherwise, one agent as a native sidecar (Kubernetes 1.29 and
	// later): an init container with restartPolicy Always whose startup
	// probe holds the pod's containers back until every file is rendered,
	// and which a Job's pod does not wait for. Otherwise an init container
	// renders the files and a sidecar in containers keeps them fresh.
	NativeSidecar bool
	// Resources are the requests and limits of each injected container;
	// the zero value means 25m CPU / 32Mi requested, 250m / 128Mi limit.
	Resources corev1.ResourceRequirements
}

// Injector turns pods that ask for agents into JSON Patches. It is safe
// for concurrent use; its configuration never changes after New.
type Injector struct {
	cfg Config
}

// New checks cfg, applies its defaults and returns an Injector.
func New(cfg Config) (*Injector, error) {
	if strings.TrimSpace(cfg.AgentImage) == "" {
		return nil, errors.New("injector: an agent image is required (an image holding the coffer binary)")
	}
	if !strings.HasPrefix(cfg.Address, "https://") && !strings.HasPrefix(cfg.Address, "http://") {
		return nil, fmt.Errorf("injector: the Coffer address %q must be a URL such as https://coffer.coffer.svc:8200", cfg.Address)
	}
	if cfg.AuthPath == "" {
		cfg.AuthPath = DefaultAuthPath
	}
	cfg.AuthPath = normaliseAuthPath(cfg.AuthPath)
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.TokenExpiration == 0 {
		cfg.TokenExpiration = DefaultTokenExpiration
	}
	if cfg.TokenExpiration < 10*time.Minute {
		return nil, fmt.Errorf("injector: the token lifetime %s is shorter than the API server's minimum of 10m", cfg.TokenExpiration)
	}
	if cfg.RunAsUser == 0 {
		cfg.RunAsUser = DefaultRunAsUser
	}
	if cfg.RunAsGroup == 0 {
		cfg.RunAsGroup = DefaultRunAsGroup
	}
	if cfg.RunAsUser < 0 || cfg.RunAsGroup < 0 {
		return nil, errors.New("injector: user and group IDs must be positive")
	}
	if cfg.Resources.Requests == nil && cfg.Resources.Limits == nil {
		cfg.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("25m"), corev1.ResourceMemory: resource.MustParse("32Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
			},
		}
	}
	return &Injector{cfg: cfg}, nil
}
