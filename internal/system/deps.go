package system

import (
	"context"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/lockout"
	"github.com/cofferhq/coffer/internal/quota"
)

// MountInfo describes one mount, in either the secrets or the auth table.
type MountInfo struct {
	Path            string            `json:"path"`
	Type            string            `json:"type"`
	Description     string            `json:"description"`
	UUID            string            `json:"uuid"`
	Accessor        string            `json:"accessor"`
	Options         map[string]string `json:"options"`
	DefaultLeaseTTL time.Duration     `json:"default_lease_ttl"`
	MaxLeaseTTL     time.Duration     `json:"max_lease_ttl"`
	Local           bool              `json:"local"`
	SealWrap        bool              `json:"seal_wrap"`
	// ListingVisibility is "", ListingUnauth or ListingHidden.
	ListingVisibility string `json:"listing_visibility,omitempty"`
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys name the
	// request and response data keys whose strings the audit devices
	// write in the clear for this mount (Vault's rule: the nearest key
	// above a string decides).
	AuditNonHMACRequestKeys  []string `json:"audit_non_hmac_request_keys,omitempty"`
	AuditNonHMACResponseKeys []string `json:"audit_non_hmac_response_keys,omitempty"`
	// PassthroughRequestHeaders are the request headers (canonical form)
	// the mount's backend sees in Request.Headers; never the token's.
	PassthroughRequestHeaders []string `json:"passthrough_request_headers,omitempty"`
	// AllowedResponseHeaders are the response headers a backend may set;
	// stored and reported, as no backend sets headers yet.
	AllowedResponseHeaders []string `json:"allowed_response_headers,omitempty"`
	// UserLockout is the mount's user_lockout_config tune; nil when never
	// tuned.
	UserLockout *lockout.Settings `json:"user_lockout_config,omitempty"`
}

// Table names the two mount tables.
type Table string

// The mount tables: secrets engines under their path, auth methods under "auth/".
const (
	SecretsTable Table = "mounts"
	AuthTable    Table = "auth"
)

// Tune is a change to a mount's settings. Its edits are applied in order
// to a copy of the mount's entry; an edit must replace, never modify, the
// entry's slices and maps. If an edit fails, or the result is invalid,
// nothing changes.
type Tune struct {
	Edits []func(m *MountInfo) error
}

// Mounts manages the mount tables. Paths are given as the user wrote them,
// without the "auth/" prefix for auth mounts, and with or without a
// trailing slash.
type Mounts interface {
	ListMounts(table Table) []MountInfo
	Enable(ctx context.Context, table Table, m MountInfo) error
	Disable(ctx context.Context, table Table, path string) error
	// Tune applies t to the mount and makes the running backend see the
	// result: a change of options rebuilds it (upgrading KV version 1 data
	// to version 2 in place). It returns warnings for the caller.
	Tune(ctx context.Context, table Table, path string, t Tune) (warnings []string, err error)
	// MountFor returns the mount serving a full request path, such as
	// "secret/data/x" or "auth/token/create".
	MountFor(path string) (MountInfo, bool)
}

// The states of a mount move, as sys/remount/status reports them.
const (
	MigrationInProgress = "in-progress"
	MigrationSuccess    = "success"
	MigrationFailure    = "failure"
)

// MigrationInfo is the state of one mount move.
type MigrationInfo struct {
	// SourceMount and TargetMount are route paths such as "secret/" or
	// "auth/userpass/".
	SourceMount string `json:"source_mount"`
	TargetMount string `json:"target_mount"`
	Status      string `json:"status"`
}

// Remounter moves mounts (sys/remount).
type Remounter interface {
	// Remount moves the secrets engine or auth method mounted at from (a
	// route path such as "secret" or "auth/userpass") to to, with its data
	// and configuration and what was issued under the old path, and
	// returns the move's migration ID. What Vault refuses is a
	// logical.ErrInvalidRequest error.
	Remount(ctx context.Context, from, to string) (migrationID string, err error)
	// RemountStatus reports a move made since the server was unsealed,
	// or found=false.
	RemountStatus(migrationID string) (info MigrationInfo, found bool)
}

// Policies stores ACL policies by name.
type Policies interface {
	ListPolicies(ctx context.Context) ([]string, error)
	// GetPolicy returns the policy text, or found=false.
	GetPolicy(ctx context.Context, name string) (text string, found bool, err error)
	PutPolicy(ctx context.Context, name, text string) error
	DeletePolicy(ctx context.Context, name string) error
}

// Capabilities answers what a token may do on a path.
type Capabilities interface {
	// CapabilitiesOf returns the capabilities of the token on each path;
	// an unknown token is logical.ErrPermissionDenied.
	CapabilitiesOf(ctx context.Context, token string, paths []string) (map[string][]string, error)
	CapabilitiesOfAccessor(ctx context.Context, accessor string, paths []string) (map[string][]string, error)
	// MountVisible reports whether the token's policies grant anything on
	// some path under the mount at routePath, so that it may learn the
	// mount exists. An unknown token, or one bound to addresses that
	// remoteAddr is not among, is logical.ErrPermissionDenied.
	MountVisible(ctx context.Context, token, remoteAddr, routePath string) (bool, error)
}

// KeyStatus reports the barrier's active key term.
type KeyStatus struct {
	Term        uint32
	InstallTime time.Time
	Encryptions int64
}

// Keys rotates and reports the barrier keyring, and holds its automatic
// rotation settings (SetRotationConfig refuses values outside Vault's
// limits with logical.ErrInvalidRequest errors).
type Keys interface {
	Rotate(ctx context.Context) (KeyStatus, error)
	KeyStatus(ctx context.Context) (KeyStatus, error)
	RotationConfig(ctx context.Context) (barrier.RotationConfig, error)
	SetRotationConfig(ctx context.Context, c barrier.RotationConfig) error
}

// SealStatus is the seal's state as sys/seal-status reports it.
type SealStatus struct {
	Type         string `json:"type"`
	Initialized  bool   `json:"initialized"`
	Sealed       bool   `json:"sealed"`
	T            int    `json:"t"`
	N            int    `json:"n"`
	Progress     int    `json:"progress"`
	Nonce        string `json:"nonce"`
	Version      string `json:"version"`
	BuildDate    string `json:"build_date"`
	Migration    bool   `json:"migration"`
	ClusterName  string `json:"cluster_name,omitempty"`
	ClusterID    string `json:"cluster_id,omitempty"`
	RecoverySeal bool   `json:"recovery_seal"`
	StorageType  string `json:"storage_type"`
}

// InitResult is what sys/init returns, exactly once.
type InitResult struct {
	Keys      [][]byte
	RootToken string
}

// Sealer initialises, unseals and seals the server.
type Sealer interface {
	SealStatus(ctx context.Context) (SealStatus, error)
	Initialize(ctx context.Context, shares, threshold int) (InitResult, error)
	// Unseal adds one key share; reset discards the progress first.
	Unseal(ctx context.Context, share []byte, reset bool) (SealStatus, error)
	Seal(ctx context.Context) error
}

// Quotas stores the rate-limit quotas and their configuration. PutQuota
// and SetQuotaConfig check their input and return logical.ErrInvalidRequest
// errors for what they refuse.
type Quotas interface {
	// ListQuotas returns the quota names in order, empty when none.
	ListQuotas(ctx context.Context) ([]string, error)
	// GetQuota returns the quota called name, or found=false.
	GetQuota(ctx context.Context, name string) (q quota.Quota, found bool, err error)
	PutQuota(ctx context.Context, q quota.Quota) error
	DeleteQuota(ctx context.Context, name string) error
	QuotaConfig(ctx context.Context) (quota.Config, error)
	SetQuotaConfig(ctx context.Context, c quota.Config) error
}

// LockedUsers lists and unlocks the aliases user lockout has locked.
type LockedUsers interface {
	// ListLockedUsers returns the locked aliases of each auth mount,
	// keyed by mount accessor, only of the mount with accessor when it is
	// not empty; empty when none.
	ListLockedUsers(ctx context.Context, accessor string) (map[string][]string, error)
	// UnlockUser ends the lock of alias on the mount with accessor; it
	// succeeds when there is none.
	UnlockUser(ctx context.Context, accessor, alias string) error
}

// Core is everything the sys backend needs from the server.
type Core interface {
	Mounts
	Remounter
	Policies
	Capabilities
	Keys
	Sealer
	Quotas
	Rekeyer
	RekeyVerifier
	RootGenerator
	Leases
	LeaseFailures
	LockedUsers
	Wrapping
	Audit
	AuditHeaders
}
