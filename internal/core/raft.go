package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/system"
)

// Barrier paths and limits of raft clustering.
const (
	// raftTLSKey holds the cluster port's TLS keyring (cluster.Keyring).
	raftTLSKey = "core/raft/tls"
	// raftChallengePath is the path a join challenge is sealed for; it is
	// never stored.
	raftChallengePath = "core/raft/challenge"
	// Physical (not barrier) paths: the seal configuration (plaintext,
	// given with a challenge) and the keyring (replicated to a new member
	// once it has joined).
	sealConfigPhysical = "core/seal-config"
	keyringPhysical    = "core/keyring"
	challengeTTL       = 5 * time.Minute
	leaderWait         = time.Minute
	// joinCommitWait bounds the wait for a new member's configuration
	// change to commit, which needs the new member to answer.
	joinCommitWait = 30 * time.Second
)

// RaftNode is integrated storage's side of clustering, as the core uses it;
// internal/physical/raft.Backend implements it.
type RaftNode interface {
	NodeID() string
	IsLeader() bool
	HasState() (bool, error)
	Bootstrap(ctx context.Context) error
	AddVoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	Servers(ctx context.Context) ([]raftstore.Server, error)
	FixAddress(ctx context.Context) error
}

// ClusterPort is the node's cluster port (internal/cluster.Layer): the
// core hands it the TLS keyring from the barrier.
type ClusterPort interface {
	SetKeyring(k *cluster.Keyring) error
	// Addr is the address other members reach this node at.
	Addr() string
}

var (
	_ RaftNode    = (*raftstore.Backend)(nil)
	_ ClusterPort = (*cluster.Layer)(nil)
)

// raftState is the core's clustering state; the zero value is ready.
type raftState struct {
	mu sync.Mutex
	// used holds the answered challenges (their SHA-256) until they
	// expire (unix seconds), to refuse replays.
	used map[[32]byte]int64
	join atomic.Pointer[pendingJoin]
	// run is the join in progress, if any (raft_join.go).
	run joinRun
	// limits bounds unauthenticated challenges and answers (raft_limit.go).
	limits joinLimiter
	// boot serialises init's bootstrap: inits sent at once to a new node
	// all found no raft state, and all but the first failed in Bootstrap
	// with an internal error (500).
	boot sync.Mutex
}

// errNoRaft refuses the raft endpoints on a server that is not clustered.
func errNoRaft() error {
	return logical.InvalidRequest(`this server does not run storage "raft" with a cluster address (cluster_addr or the listener's cluster_address)`)
}

// raftBootstrap makes a fresh raft node the single voter of a new cluster
// before init writes to it, and waits until it leads.
func (c *Core) raftBootstrap(ctx context.Context) error {
	r := c.conf.Raft
	if r == nil {
		return nil
	}
	if c.clustering.join.Load() != nil {
		return logical.InvalidRequest("this node is joining a cluster: unseal it with the cluster's unseal keys instead of initialising it")
	}
	c.clustering.boot.Lock()
	defer c.clustering.boot.Unlock()
	has, err := r.HasState()
	if err != nil {
		return err
	}
	if !has {
		if err := r.Bootstrap(ctx); err != nil {
			return err
		}
	}
	return waitFor(ctx, leaderWait, "this node to lead its new raft cluster", func() bool { return r.IsLeader() })
}

// waitFor polls cond until it holds, ctx ends, or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// newClusterTLS generates and stores the cluster port's keyring; called
// while a new store is set up.
func (c *Core) newClusterTLS(ctx context.Context) error {
	if c.conf.ClusterPort == nil {
		return nil
	}
	k, err := cluster.NewKeyring()
	if err != nil {
		return err
	}
	if err := logical.PutJSON(ctx, c.barrier, raftTLSKey, k); err != nil {
		return fmt.Errorf("store cluster TLS keyring: %w", err)
	}
	return c.setClusterKeyring(k)
}

// setClusterKeyring hands the cluster port its keyring and remembers that
// it has one.
func (c *Core) setClusterKeyring(k *cluster.Keyring) error {
	if err := c.conf.ClusterPort.SetKeyring(k); err != nil {
		return err
	}
	c.clusterTLS.Store(true)
	return nil
}

// startCluster gives the cluster port its keyring from the barrier once
// unsealed, so that raft can reach the other members: a restarted member
// rejoins by itself. A store from before clustering gets a keyring from
// its leader.
func (c *Core) startCluster(ctx context.Context) error {
	if c.conf.ClusterPort == nil {
		return nil
	}
	var k cluster.Keyring
	found, err := logical.GetJSON(ctx, c.barrier, raftTLSKey, &k)
	if err != nil {
		return fmt.Errorf("read cluster TLS keyring: %w", err)
	}
	leader := c.conf.Raft != nil && c.conf.Raft.IsLeader()
	if leader {
		if err := c.conf.Raft.FixAddress(ctx); err != nil {
			c.logger.Warn("could not record this node's cluster address in the raft configuration", "error", err.Error())
		}
	}
	switch {
	case found:
		if err := c.setClusterKeyring(&k); err != nil {
			return err
		}
		if !leader && c.conf.Raft != nil {
			c.catchUp(ctx)
		}
		return nil
	case leader:
		return c.newClusterTLS(ctx)
	}
	c.logger.Warn("no cluster TLS keyring is stored yet; this node cannot reach the others until its leader (or active server) writes one")
	return nil
}

// raftProgress is what catchUp reads of raft (physical/raft.Backend).
type raftProgress interface {
	Leader() (id, addr string)
	Indexes() (committed, applied uint64)
}

// catchUpWait bounds how long an unsealing member waits to catch up.
const memberCatchUpWait = 10 * time.Second

// catchUp waits, for a little while, until this member has heard from a
// leader and applied everything it knows to be committed, so that what the
// unseal loads (mounts, policies) is current rather than what the node
// held when it stopped. A member that cannot reach a leader unseals
// anyway, with the data it has.
func (c *Core) catchUp(ctx context.Context) {
	p, ok := c.conf.Raft.(raftProgress)
	if !ok {
		return
	}
	err := waitFor(ctx, memberCatchUpWait, "this member to catch up with its leader", func() bool {
		id, _ := p.Leader()
		committed, applied := p.Indexes()
		return id != "" && committed > 0 && applied >= committed
	})
	if err != nil {
		c.logger.Warn("unsealing with the data this member holds: it has not caught up with a leader", "error", err.Error())
	}
}

// raftLeader returns the raft node when this server is unsealed and leads.
func (c *Core) raftLeader() (RaftNode, error) {
	r := c.conf.Raft
	if r == nil || c.conf.ClusterPort == nil {
		return nil, errNoRaft()
	}
	if c.state.Load() == nil {
		return nil, logical.ErrSealed
	}
	if !r.IsLeader() {
		return nil, logical.InvalidRequest("this node is not the raft leader; join through the active node's API address")
	}
	return r, nil
}

// RaftConfiguration lists the members this node knows of.
func (c *Core) RaftConfiguration(ctx context.Context) ([]system.RaftServer, error) {
	if c.conf.Raft == nil {
		return nil, errNoRaft()
	}
	servers, err := c.conf.Raft.Servers(ctx)
	if err != nil {
		return nil, raftError(err)
	}
	out := make([]system.RaftServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, system.RaftServer{NodeID: s.ID, Address: s.Address, Leader: s.Leader, Voter: s.Voter, ProtocolVersion: "3"})
	}
	return out, nil
}

// RaftRemovePeer removes a member; it must run on the leader.
func (c *Core) RaftRemovePeer(ctx context.Context, serverID string) error {
	if c.conf.Raft == nil {
		return errNoRaft()
	}
	servers, err := c.conf.Raft.Servers(ctx)
	if err != nil {
		return raftError(err)
	}
	if !slices.ContainsFunc(servers, func(s raftstore.Server) bool { return s.ID == serverID }) {
		// raft would commit a configuration change that removes nothing.
		return logical.InvalidRequest("no raft peer with server_id %s", serverID)
	}
	if err := c.conf.Raft.RemoveServer(ctx, serverID); err != nil {
		return raftError(err)
	}
	c.logger.Info("raft member removed", "node_id", serverID)
	return nil
}

// raftError turns "not the leader" into a 400 that says so.
func raftError(err error) error {
	if errors.Is(err, raftstore.ErrNotLeader) {
		return logical.InvalidRequest("%s", err.Error())
	}
	return err
}

// The sys/ backend finds raft's endpoints on the adapter (system.Raft).
var _ system.Raft = sysAdapter{}

func (a sysAdapter) RaftJoin(ctx context.Context, leaders []cluster.Leader, retry bool) (bool, error) {
	return a.c.RaftJoin(ctx, leaders, retry)
}

func (a sysAdapter) RaftChallenge(ctx context.Context, serverID, clusterAddr, remote string) (*cluster.Challenge, error) {
	return a.c.RaftChallenge(ctx, serverID, clusterAddr, remote)
}

func (a sysAdapter) RaftAnswer(ctx context.Context, ans system.RaftAnswer) (*cluster.Answered, error) {
	return a.c.RaftAnswer(ctx, ans)
}

func (a sysAdapter) RaftConfiguration(ctx context.Context) ([]system.RaftServer, error) {
	return a.c.RaftConfiguration(ctx)
}

func (a sysAdapter) RaftRemovePeer(ctx context.Context, serverID string) error {
	return a.c.RaftRemovePeer(ctx, serverID)
}
