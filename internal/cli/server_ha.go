package cli

import (
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/physical"
)

// withHA makes conf a member of an HA cluster when its storage elects an
// active server (raft; PostgreSQL with ha_enabled): the server then
// advertises api_addr while active and stands by otherwise. Forwarding
// from standbys needs the cluster port (httpapi.Options.Forwarder,
// forward.Client); without it a standby answers 503 to all but the
// node-local sys/ paths.
func withHA(conf *core.Config, cfg *config.Server, p physical.Backend) {
	for {
		if hb, ok := p.(physical.HABackend); ok && hb.HAEnabled() {
			conf.HA, conf.APIAddr = hb, cfg.APIAddr
			return
		}
		u, ok := p.(interface{ Unwrap() physical.Backend })
		if !ok {
			return
		}
		p = u.Unwrap()
	}
}
