package cli

import (
	"log/slog"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/forward"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
)

// withHA makes conf a member of an HA cluster when its storage elects an
// active server (raft; PostgreSQL with ha_enabled): the server then
// advertises api_addr (and the cluster port's address) while active and
// stands by otherwise. With a cluster port it returns the forwarder that
// carries a standby's requests to the active node; without one (nil) a
// standby answers 503 to all but the node-local sys/ paths.
func withHA(conf *core.Config, cfg *config.Server, p physical.Backend, port *cluster.Layer, logger *slog.Logger) *forward.Client {
	for {
		if hb, ok := p.(physical.HABackend); ok && hb.HAEnabled() {
			conf.HA, conf.APIAddr = hb, cfg.APIAddr
			break
		}
		u, ok := p.(interface{ Unwrap() physical.Backend })
		if !ok {
			return nil
		}
		p = u.Unwrap()
	}
	if port == nil {
		return nil
	}
	fwd := forward.NewClient(port, logger.With("component", "forward"))
	conf.ClusterAddr, conf.HAEcho = port.Addr(), fwd.Echo
	return fwd
}

// serveForwarding gives every client listener the forwarder and serves
// the requests standbys forward, on the cluster port, while this node is
// active (a standby answers them 503, and they are never forwarded again).
func serveForwarding(co *core.Core, port *cluster.Layer, fwd *forward.Client, lns []listener, logger *slog.Logger) {
	if fwd == nil {
		return
	}
	for i := range lns {
		lns[i].forwarder = fwd
	}
	api := httpapi.New(co, httpapi.Options{Logger: logger})
	forward.Serve(port.Listen(cluster.ProtoForward), forward.Handler(api, co.RecordEcho), logger)
}
