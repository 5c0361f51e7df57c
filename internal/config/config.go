package config

import (
	"time"
)

// Defaults, applied by applyDefaults and nowhere else.
const (
	DefaultAddress     = "127.0.0.1:8200"
	DefaultLeaseTTL    = 768 * time.Hour
	DefaultMaxLeaseTTL = 768 * time.Hour
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "text"
	// DefaultMaxRequestSize is 32 MiB, as in Vault.
	DefaultMaxRequestSize int64 = 32 << 20
	DefaultTLSMinVersion        = "tls12"
)

// Block types understood in storage, listener and seal blocks.
const (
	StorageFile  = "file"
	StorageInmem = "inmem"
	// StoragePostgres is Vault's name for the PostgreSQL backend.
	StoragePostgres = "postgresql"
	ListenerTCP     = "tcp"
	SealStatic      = "static"
)

const (
	staticSealKeySize    = 32
	maxSealKeyFileSize   = 4096
	unlimitedRequestSize = -1
)

// Server is a validated server configuration with defaults applied.
type Server struct {
	Storage   Storage
	Listeners []Listener
	// Seal is nil when no seal block is written: the server then uses
	// Shamir unseal keys.
	Seal *Seal

	// APIAddr is the URL clients should use to reach this server; empty
	// when not set (the server derives one from its first listener).
	APIAddr string
	// ClusterAddr is the address other nodes reach this one's cluster
	// port at (host:port, or a URL whose scheme is ignored, as Vault
	// writes it); empty means the listener's cluster_address.
	ClusterAddr string
	ClusterName string
	UI          bool
	// LogLevel is one of trace, debug, info, warn, error.
	LogLevel string
	// LogFormat is "text" or "json" (Vault's "standard" means text).
	LogFormat       string
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	// DisableMlock is accepted for Vault compatibility and has no effect.
	DisableMlock bool
	PIDFile      string
	// UserLockouts are the user_lockout blocks, in file order, at most one
	// per type.
	UserLockouts []UserLockout
	// Audits are the audit blocks, in file order.
	Audits []Audit
	// DisableAPIAuditCreation forbids enabling and disabling audit
	// devices through sys/audit: only the audit blocks declare them.
	DisableAPIAuditCreation bool
	// Telemetry is the telemetry block; its defaults when none is written.
	Telemetry Telemetry
}

// Storage is the storage block.
type Storage struct {
	// Type is "file" (the embedded bbolt database), "raft" (integrated
	// storage), "postgresql" or "inmem".
	Type string
	// Path is the data directory for "file" and "raft"; empty otherwise.
	Path string
	// Raft holds the settings of "raft".
	Raft RaftStorage
	// ConnectionURL is the PostgreSQL URL for "postgresql"; it may be
	// empty, when the environment (COFFER_PG_CONNECTION_URL or
	// VAULT_PG_CONNECTION_URL) supplies it. It may hold a password: never
	// log or print it.
	ConnectionURL string
	// Table is the PostgreSQL table; empty means the backend's default.
	Table string
	// MaxParallel bounds the PostgreSQL connections; 0 means the
	// backend's default.
	MaxParallel int
	// HAEnabled and HATable are storage "postgresql"'s ha_enabled and
	// ha_table: servers sharing the table elect one active server through
	// a lock row in HATable (empty: the backend's default, coffer_ha_locks).
	HAEnabled bool
	HATable   string
	Line      int
}

// Listener is one listener block.
type Listener struct {
	// Type is "tcp".
	Type        string
	Address     string
	TLSCertFile string
	TLSKeyFile  string
	// TLSDisable is true only when written so; then the listener serves
	// plain HTTP.
	TLSDisable bool
	// MaxRequestSize is the largest request body in bytes; -1 means no
	// limit (written as a negative number, as in Vault).
	MaxRequestSize int64
	// TLSMinVersion is tls12 or tls13; older versions are refused.
	TLSMinVersion string
	// ForwardedFor says which proxies' X-Forwarded-For header gives the
	// client address.
	ForwardedFor ForwardedFor
	// DisableUnauthedRekeyEndpoints and DisableUnauthedGenerateRootEndpoints
	// remove the token-less sys/rekey/* and sys/generate-root/* endpoints
	// from this listener (405), as OpenBao's options of the same names do.
	// The default, false, serves them, as Vault does.
	DisableUnauthedRekeyEndpoints        bool
	DisableUnauthedGenerateRootEndpoints bool
	// Telemetry is the listener's telemetry block.
	Telemetry ListenerTelemetry
	// ClusterAddress is where the cluster port listens (host:port); empty
	// means the address's port + 1 when the server is clustered.
	ClusterAddress string
	Line           int
}

// Seal is the seal block; only the "static" auto-unseal type exists.
type Seal struct {
	Type string
	// KeyFile holds 32 random bytes as base64 or hex (see ReadKey).
	KeyFile string
	Line    int
}

// applyDefaults fills unset settings. It is the single place defaults live.
func applyDefaults(s *Server) {
	if s.LogLevel == "" {
		s.LogLevel = DefaultLogLevel
	}
	if s.LogFormat == "" {
		s.LogFormat = DefaultLogFormat
	}
	if s.DefaultLeaseTTL == 0 {
		s.DefaultLeaseTTL = DefaultLeaseTTL
	}
	if s.MaxLeaseTTL == 0 {
		s.MaxLeaseTTL = DefaultMaxLeaseTTL
	}
	if s.Telemetry.Line == 0 {
		s.Telemetry = Telemetry{PrometheusRetentionTime: DefaultPrometheusRetentionTime, UsageGaugePeriod: DefaultUsageGaugePeriod}
	}
	for i := range s.Listeners {
		l := &s.Listeners[i]
		if l.Address == "" {
			l.Address = DefaultAddress
		}
		if l.MaxRequestSize == 0 {
			l.MaxRequestSize = DefaultMaxRequestSize
		}
		if l.MaxRequestSize < 0 {
			l.MaxRequestSize = unlimitedRequestSize
		}
		if l.TLSMinVersion == "" {
			l.TLSMinVersion = DefaultTLSMinVersion
		}
	}
}
