package system

import (
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Info is static information about the running server.
type Info struct {
	Version     string
	StorageType string
	// ClusterName and ClusterID are reported once unsealed.
	ClusterName string
	ClusterID   func() string
}

// PreAuthPaths are the sys/ paths served without a token and while sealed,
// relative to "sys/".
var PreAuthPaths = []string{"init", "unseal", "seal-status", "health", "leader"}

type backend struct {
	core Core
	info Info
}

// New returns the sys/ backend. The paths in PreAuthPaths must be routed to
// it whether or not the server is sealed; every other path needs a token.
func New(core Core, info Info) logical.Backend {
	b := &backend{core: core, info: info}
	var paths []*framework.Path
	paths = append(paths, b.sealPaths()...)
	paths = append(paths, b.mountPaths()...)
	paths = append(paths, b.policyPaths()...)
	paths = append(paths, b.capabilityPaths()...)
	paths = append(paths, b.keyPaths()...)
	paths = append(paths, b.quotaPaths()...)
	return sysBackend{&framework.Backend{
		Paths: paths,
		Special: &logical.Paths{
			Unauthenticated: PreAuthPaths,
			Root:            []string{"seal", "rotate", "auth/*"},
		},
	}}
}
