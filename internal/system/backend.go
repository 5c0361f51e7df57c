package system

import (
	"slices"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Info is static information about the running server.
type Info struct {
	Version     string
	StorageType string
	// ClusterName and ClusterID are reported once unsealed; either may
	// be nil.
	ClusterName func() string
	ClusterID   func() string
	// Metrics and Loggers serve sys/metrics and sys/loggers; either may be
	// nil, leaving its paths unrouted.
	Metrics MetricsSource
	Loggers LogLevels
}

// PreAuthPaths are the sys/ paths served without a token and while sealed,
// relative to "sys/".
var PreAuthPaths = append([]string{"init", "unseal", "seal-status", "health", "leader"}, RaftPreAuthPaths...)

// UnauthedRekeyPaths and UnauthedGenerateRootPaths are the sys/ paths
// through which a quorum of unseal key holders, with no token, rekeys the
// shares or mints a new root token; a listener may disable either group
// (disable_unauthed_rekey_endpoints, disable_unauthed_generate_root_endpoints).
// Relative to "sys/".
var (
	UnauthedRekeyPaths = []string{
		"rekey/init", "rekey/update", "rekey/verify",
		"rekey-recovery-key/init", "rekey-recovery-key/update", "rekey-recovery-key/verify",
	}
	UnauthedGenerateRootPaths = []string{"generate-root/attempt", "generate-root/update"}
)

// UnsealedPreAuthPaths are the sys/ paths served without a token, as Vault
// serves them, but only while unsealed: rekey, root generation and the
// token decoder. Like PreAuthPaths they are never rate-limited, so that no
// quota can lock operators out of them. Relative to "sys/".
var UnsealedPreAuthPaths = slices.Concat(UnauthedRekeyPaths, UnauthedGenerateRootPaths, []string{"decode-token"}, RaftUnsealedPreAuthPaths)

type backend struct {
	core Core
	info Info
}

// sudoPaths need the sudo capability on top of the operation's, as in
// Vault, plus mounts/auth/*: sys/mounts/auth/<path>/tune reaches an auth
// method as in Vault, so it needs the sudo that sys/auth/* needs (Vault
// does not ask for it there, which lets a policy on sys/mounts/* tune auth
// methods it was never meant to reach).
var sudoPaths = []string{"seal", "rotate", "rotate/keyring", "auth/*", "rekey/backup", "rekey/recovery-key-backup", "remount", "mounts/auth/*", "step-down"}

// New returns the sys/ backend. The paths in PreAuthPaths must be routed to
// it whether or not the server is sealed, those in UnsealedPreAuthPaths
// without a token once unsealed; every other path but the mount listing of
// sys/internal/ui/mounts needs a token.
func New(core Core, info Info) logical.Backend {
	b := &backend{core: core, info: info}
	var paths []*framework.Path
	paths = append(paths, b.sealPaths()...)
	paths = append(paths, b.haPaths()...)
	paths = append(paths, b.mountPaths()...)
	paths = append(paths, b.remountPaths()...)
	paths = append(paths, b.policyPaths()...)
	paths = append(paths, b.capabilityPaths()...)
	paths = append(paths, b.keyPaths()...)
	paths = append(paths, b.quotaPaths()...)
	paths = append(paths, b.rekeyPaths()...)
	paths = append(paths, b.generateRootPaths()...)
	paths = append(paths, b.leasePaths()...)
	paths = append(paths, b.lockedUserPaths()...)
	paths = append(paths, b.wrappingPaths()...)
	paths = append(paths, b.auditPaths()...)
	paths = append(paths, b.telemetryPaths()...)
	paths = append(paths, b.pprofPaths()...)
	paths = append(paths, b.raftSnapshotPaths()...)
	paths = append(paths, b.raftPaths()...)
	paths = append(paths, b.raftAutopilotPaths()...)
	return sysBackend{&framework.Backend{
		Paths: paths,
		Special: &logical.Paths{
			// The mount listing answers without a token too, with the
			// mounts tuned to listing_visibility "unauth", as in Vault.
			Unauthenticated: append(append(slices.Clone(PreAuthPaths), UnsealedPreAuthPaths...), "internal/ui/mounts", wrapLookupPath),
			Root:            slices.Concat(sudoPaths, leaseSudoPaths, auditSudoPaths, pprofSudoPaths, raftSnapshotSudoPaths, raftSudoPaths, raftAutopilotSudoPaths),
		},
	}}
}
