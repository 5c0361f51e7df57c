package config

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Agent defaults, applied by applyAgentDefaults and nowhere else. They are
// Vault Agent's, except DefaultTemplatePerms: Vault writes 0644, Coffer
// never makes a rendered secret world-readable unless told to.
const (
	DefaultAgentAddress                           = "https://127.0.0.1:8200"
	DefaultAgentRetries                           = 12
	DefaultStaticSecretRenderInterval             = 5 * time.Minute
	DefaultLeaseRenewalThreshold                  = 0.90
	DefaultTemplatePerms              os.FileMode = 0o600
	DefaultSinkMode                   os.FileMode = 0o640
	DefaultKubernetesTokenPath                    = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultAuthMinBackoff                         = time.Second
	DefaultAuthMaxBackoff                         = 5 * time.Minute
	DefaultCommandTimeout                         = 30 * time.Second
	RestartAlways                                 = "always"
	RestartNever                                  = "never"
)

// Auto-auth method types.
const (
	MethodKubernetes = "kubernetes"
	MethodJWT        = "jwt"
	MethodAppRole    = "approle"
	MethodTokenFile  = "token_file"
)

// Agent is a validated `coffer agent` configuration with defaults applied.
// It describes what the agent should do; internal/agent does it.
type Agent struct {
	// Server is the coffer { … } block (vault { … } is accepted as an alias).
	Server AgentServer
	// AutoAuth is nil when there is no auto_auth block; then the listeners
	// only pass requests through with the caller's own token.
	AutoAuth  *AutoAuth
	Templates []Template
	// TemplateConfig always holds values (defaults when not written).
	TemplateConfig TemplateConfig
	// Exec is nil without an exec block.
	Exec      *Exec
	Listeners []AgentListener
	// Cache is nil without a cache block: the listeners then proxy but
	// cache nothing.
	Cache *AgentCache
	// UseAutoAuthToken is "true" (attach the auto-auth token to requests
	// that carry none; the default when auto_auth exists), "force" (always
	// replace the caller's token) or "false".
	UseAutoAuthToken string
	ExitAfterAuth    bool
	PIDFile          string
	// LogLevel is one of trace, debug, info, warn, error.
	LogLevel string

	thresholdInTemplateConfig bool
}

// AgentServer is where the agent finds its Coffer server.
type AgentServer struct {
	Address       string
	CACert        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	TLSSkipVerify bool
	// Retries is how many times a failed request (an auth or a template's
	// read) is retried with backoff before it counts as failed: retry {
	// num_retries }, default 12, 0 for none (Vault's -1 also means none).
	Retries int
	Line    int
}

// AutoAuth is the auto_auth block: one method and any number of sinks.
type AutoAuth struct {
	Method AuthMethod
	Sinks  []Sink
}

// AuthMethod is auto_auth's method block. Which fields are used depends
// on Type; the parser refuses keys a type does not take.
type AuthMethod struct {
	Type string
	// MountPath is "auth/<type>" unless written; unused for token_file.
	MountPath string
	// Role is the role to log in as (kubernetes, jwt).
	Role string
	// TokenPath is the file holding the credential: the service-account
	// JWT (kubernetes token_path, jwt path) or the token (token_file
	// token_file_path).
	TokenPath string
	// RoleIDFile and SecretIDFile are approle's files.
	RoleIDFile   string
	SecretIDFile string
	// RemoveAfterReading removes the credential file once read (jwt
	// remove_jwt_after_reading, approle
	// remove_secret_id_file_after_reading; both default true, as Vault).
	RemoveAfterReading bool
	// ExitOnErr makes any authentication error end the agent.
	ExitOnErr  bool
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Line       int
}

// Sink is one sink "file" block: where the auto-auth token is written.
type Sink struct {
	Type string
	Path string
	Mode os.FileMode
	Line int
}

// Template is one template block.
type Template struct {
	// Exactly one of Source (a file) and Contents is set.
	Source      string
	Contents    string
	Destination string
	Perms       os.FileMode
	// Command runs after the file changed: argv, or ["/bin/sh", "-c", s]
	// when written as one string (as consul-template does).
	Command           []string
	CommandTimeout    time.Duration
	ErrorOnMissingKey bool
	LeftDelimiter     string
	RightDelimiter    string
	CreateDestDirs    bool
	Line              int
}

// TemplateConfig is the template_config block.
type TemplateConfig struct {
	// StaticSecretRenderInterval is how often secrets without a lease
	// (KV) are read again to notice new versions.
	StaticSecretRenderInterval time.Duration
	// ExitOnRetryFailure ends the agent when a template still fails after
	// all retries.
	ExitOnRetryFailure bool
	// LeaseRenewalThreshold is the fraction of a lease after which a
	// secret that cannot be renewed further is fetched anew.
	LeaseRenewalThreshold float64
}

// Exec is the exec block: a child process the agent supervises.
type Exec struct {
	Command []string
	// RestartOnSecretChanges is "always" or "never".
	RestartOnSecretChanges string
	RestartStopSignal      syscall.Signal
	Line                   int
}

// AgentListener is one listener block: the local API proxy.
type AgentListener struct {
	// Type is "tcp" or "unix".
	Type        string
	Address     string
	TLSDisable  bool
	TLSCertFile string
	TLSKeyFile  string
	// SocketMode is the unix socket's permission bits (default 0600).
	SocketMode os.FileMode
	Line       int
}

// AgentCache is the cache block: leased responses (dynamic secrets,
// tokens from logins) are answered locally until their lease nears its end.
type AgentCache struct {
	Line int
}

// ParseAgentFile reads and parses an agent configuration file, as
// LoadFile does for the server's.
func ParseAgentFile(path string) (*Agent, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseAgent(src, path)
}

// ParseAgent parses agent configuration source; filename is used only in
// messages, which name the key at fault and its line. Unknown keys are
// errors. ParseAgent never panics and reads no file.
func ParseAgent(src []byte, filename string) (*Agent, error) {
	d, list, err := parseTop(src, filename)
	if err != nil {
		return nil, err
	}
	a := &Agent{}
	if err := d.agentTop(a, list); err != nil {
		return nil, err
	}
	if err := d.validateAgent(a); err != nil {
		return nil, err
	}
	applyAgentDefaults(a)
	return a, nil
}

func (d *decoder) validateAgent(a *Agent) error {
	if a.AutoAuth == nil && len(a.Templates) > 0 {
		return &Error{File: d.file, Kind: ErrMissing, Msg: "template needs an auto_auth block to get a token with"}
	}
	if a.AutoAuth == nil && a.ExitAfterAuth {
		return &Error{File: d.file, Kind: ErrMissing, Msg: "exit_after_auth needs an auto_auth block"}
	}
	if a.Exec != nil && a.ExitAfterAuth {
		return &Error{File: d.file, Line: a.Exec.Line, Kind: ErrInvalidValue, Msg: "exec cannot be combined with exit_after_auth: the agent would exit before the child runs"}
	}
	if a.Exec != nil && len(a.Templates) == 0 {
		return &Error{File: d.file, Line: a.Exec.Line, Kind: ErrMissing, Msg: "exec needs at least one template block whose changes it follows"}
	}
	if a.AutoAuth == nil && len(a.Listeners) == 0 {
		return &Error{File: d.file, Kind: ErrMissing, Msg: `nothing to do: add an auto_auth block (with templates or sinks) or a listener "unix"/"tcp" block`}
	}
	if a.Cache != nil && len(a.Listeners) == 0 {
		return &Error{File: d.file, Line: a.Cache.Line, Kind: ErrMissing, Msg: `cache needs a listener "unix" or "tcp" block to serve from`}
	}
	if a.UseAutoAuthToken == "force" && a.AutoAuth == nil {
		return &Error{File: d.file, Kind: ErrMissing, Msg: `use_auto_auth_token = "force" needs an auto_auth block`}
	}
	if err := d.checkPlainListeners(a); err != nil {
		return err
	}
	seen := map[string]int{}
	for _, t := range a.Templates {
		if first, dup := seen[t.Destination]; dup {
			return &Error{File: d.file, Line: t.Line, Kind: ErrDuplicate, Msg: fmt.Sprintf("template destination %q is also the destination of the template on line %d", t.Destination, first)}
		}
		seen[t.Destination] = t.Line
	}
	return nil
}

// checkPlainListeners refuses a tcp listener that serves plain HTTP beyond
// loopback while the proxy attaches the auto-auth token: anyone who can
// reach the address would act with the agent's identity, over a
// connection anyone on the path can read.
func (d *decoder) checkPlainListeners(a *Agent) error {
	if a.AutoAuth == nil || a.UseAutoAuthToken == "false" {
		return nil
	}
	for _, l := range a.Listeners {
		if l.Type != "tcp" || !l.TLSDisable || loopback(l.Address) {
			continue
		}
		return &Error{File: d.file, Line: l.Line, Kind: ErrTLSRequired, Msg: fmt.Sprintf(
			`listener "tcp" on %s serves plain HTTP beyond loopback and attaches the auto-auth token to every request: `+
				`listen on a loopback address (127.0.0.1 or [::1]), give tls_cert_file and tls_key_file, or set use_auto_auth_token = false`, l.Address)}
	}
	return nil
}

// loopback reports whether a listener address binds loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func applyAgentDefaults(a *Agent) {
	if a.Server.Address == "" {
		a.Server.Address = DefaultAgentAddress
	}
	if a.Server.Retries < 0 {
		a.Server.Retries = 0
	}
	tc := &a.TemplateConfig
	if tc.StaticSecretRenderInterval == 0 {
		tc.StaticSecretRenderInterval = DefaultStaticSecretRenderInterval
	}
	if tc.LeaseRenewalThreshold == 0 {
		tc.LeaseRenewalThreshold = DefaultLeaseRenewalThreshold
	}
	if a.LogLevel == "" {
		a.LogLevel = DefaultLogLevel
	}
	if a.UseAutoAuthToken == "" {
		a.UseAutoAuthToken = "false"
		if a.AutoAuth != nil {
			a.UseAutoAuthToken = "true"
		}
	}
}
