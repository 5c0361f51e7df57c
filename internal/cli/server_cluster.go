package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
)

// clusterAddrs decides the cluster port of storage "raft", and of storage
// "postgresql" with ha_enabled (whose standbys forward over it): where it
// listens (the first listener's cluster_address, or with only cluster_addr
// set the listener's port + 1, as in Vault) and what it advertises
// (cluster_addr, else the listen address). Both are empty when neither is
// configured: raft then runs single-node without a network, and PostgreSQL
// standbys cannot forward.
func clusterAddrs(cfg *config.Server) (listen, advertise string, err error) {
	pgHA := cfg.Storage.Type == config.StoragePostgres && cfg.Storage.HAEnabled
	if (cfg.Storage.Type != config.StorageRaft && !pgHA) || len(cfg.Listeners) == 0 {
		return "", "", nil
	}
	l := cfg.Listeners[0]
	advertise = strings.TrimSpace(cfg.ClusterAddr)
	if u, perr := url.Parse(advertise); perr == nil && u.Host != "" {
		advertise = u.Host // Vault writes it as https://host:port
	}
	listen = l.ClusterAddress
	if listen == "" && advertise != "" {
		host, port, serr := net.SplitHostPort(cmpAddr(l.Address))
		p, perr := strconv.Atoi(port)
		if serr != nil || perr != nil {
			return "", "", fmt.Errorf("listener address %q: cannot derive the cluster port (set cluster_address)", l.Address)
		}
		listen = net.JoinHostPort(host, strconv.Itoa(p+1))
	}
	if listen == "" {
		if len(cfg.Storage.Raft.RetryJoin) > 0 {
			return "", "", fmt.Errorf(`storage "raft" retry_join needs a cluster port: set cluster_addr, or cluster_address in the listener`)
		}
		return "", "", nil
	}
	if advertise == "" {
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return "", "", fmt.Errorf("cluster_address %q: %w", listen, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return "", "", fmt.Errorf("cluster_address %q listens on every interface: set cluster_addr to the address other nodes reach this one at", listen)
		}
		advertise = listen
	}
	return listen, advertise, nil
}

// cmpAddr is a listener address with Vault's default port.
func cmpAddr(a string) string {
	if a == "" {
		return "127.0.0.1:8200"
	}
	return a
}

// openClusterRaft opens storage "raft" on the cluster port. A node with no
// raft state waits for init (which bootstraps a cluster) or a join; a
// member's raft reaches the others once unsealed, when the core hands the
// port its TLS keyring. A sole voter is waited for, so that it leads
// before init or unseal writes.
func openClusterRaft(ctx context.Context, s config.Storage, port *cluster.Layer, logger *slog.Logger) (*raftstore.Backend, error) {
	b, err := raftstore.Open(raftstore.Config{
		Path: s.Path, NodeID: s.Raft.NodeID, PerformanceMultiplier: s.Raft.PerformanceMultiplier,
		TrailingLogs: s.Raft.TrailingLogs, SnapshotThreshold: s.Raft.SnapshotThreshold,
		SnapshotInterval: s.Raft.SnapshotInterval, MaxSnapshotSize: s.Raft.MaxSnapshotSize, Logger: logger, Stream: port.RaftStream(), NoBootstrap: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft storage at %s: %w", s.Path, err)
	}
	servers, err := b.Servers(ctx)
	if err == nil && len(servers) == 1 && servers[0].ID == b.NodeID() {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if _, err := b.WaitLeader(wctx); err != nil {
			_ = b.Close()
			return nil, err
		}
	}
	logger.Info("raft storage on the cluster port", "node_id", b.NodeID(), "cluster_addr", port.Addr(), "members", len(servers))
	return b, nil
}

// retryJoinLeaders turns the retry_join blocks into the core's leaders.
func retryJoinLeaders(blocks []config.RetryJoin) []cluster.Leader {
	out := make([]cluster.Leader, 0, len(blocks))
	for _, j := range blocks {
		out = append(out, cluster.Leader{APIAddr: j.LeaderAPIAddr, CACert: j.LeaderCACert, ClientCert: j.LeaderClientCert,
			ClientKey: j.LeaderClientKey, ServerName: j.LeaderTLSServerName})
	}
	return out
}

var _ core.ClusterPort = (*cluster.Layer)(nil)
