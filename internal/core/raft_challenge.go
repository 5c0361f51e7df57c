package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/system"
)

// maxUsedChallenges bounds the challenges the leader remembers as answered
// (until they expire) to refuse replays. Only a node holding the unseal key
// can answer one, so outsiders cannot fill the set.
const maxUsedChallenges = 1024

// boundChallenge is what the leader seals in a join challenge: the node it
// was issued for, where that node is reached, when it expires, and a random
// answer. The leader keeps nothing: the answer request carries the sealed
// challenge back, and the leader opens it with its barrier. The joiner
// opens it with the cluster's unseal key and answers only if it names this
// node, so a challenge asked for another node id or address (by a relay
// posing as the leader) is refused.
type boundChallenge struct {
	ServerID    string `json:"server_id"`
	ClusterAddr string `json:"cluster_addr"`
	Expires     int64  `json:"expires"`
	Answer      []byte `json:"answer"`
}

// checkClusterAddr refuses an address other members could not dial.
func checkClusterAddr(addr string) error {
	if addr == "" {
		return logical.InvalidRequest("cluster_addr is required")
	}
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		return logical.InvalidRequest("cluster_addr must be host:port")
	}
	return nil
}

// sealChallenge makes a challenge for serverID at clusterAddr, sealed
// under the unseal key (not the keyring): a joining node that assembled
// the key opens it without being given anything else.
func (c *Core) sealChallenge(serverID, clusterAddr string) ([]byte, error) {
	b := boundChallenge{ServerID: serverID, ClusterAddr: clusterAddr, Expires: time.Now().Add(challengeTTL).Unix(), Answer: make([]byte, 32)}
	_, _ = rand.Read(b.Answer)
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return c.barrier.SealWithUnsealKey(raftChallengePath, raw)
}

// openAnswered checks an answer on the leader: the sealed challenge must
// open with this barrier, be unexpired and unused, and the answer must
// match. It returns the node the challenge was issued for and marks the
// challenge used.
func (c *Core) openAnswered(sealed, answer []byte) (*boundChallenge, error) {
	raw, err := c.barrier.OpenWithUnsealKey(raftChallengePath, sealed)
	var b boundChallenge
	if err == nil {
		err = json.Unmarshal(raw, &b)
	}
	if err != nil || b.ServerID == "" || len(b.Answer) == 0 {
		return nil, logical.InvalidRequest("challenge is not a join challenge issued by this cluster; ask for a new one")
	}
	now := time.Now()
	if now.Unix() > b.Expires {
		return nil, logical.InvalidRequest("the join challenge has expired; ask for a new one")
	}
	if subtle.ConstantTimeCompare(b.Answer, answer) != 1 {
		return nil, logical.CodedError(logical.ErrPermissionDenied, "the join answer is wrong: the node does not hold this cluster's unseal key")
	}
	sum := sha256.Sum256(sealed)
	c.clustering.mu.Lock()
	defer c.clustering.mu.Unlock()
	if c.clustering.used == nil {
		c.clustering.used = map[[32]byte]int64{}
	}
	for k, exp := range c.clustering.used {
		if now.Unix() > exp {
			delete(c.clustering.used, k)
		}
	}
	if _, ok := c.clustering.used[sum]; ok {
		return nil, logical.InvalidRequest("this join challenge has already been answered; ask for a new one")
	}
	if len(c.clustering.used) >= maxUsedChallenges {
		return nil, logical.CodedError(logical.ErrRateLimited, "too many joins were answered recently; try again later")
	}
	c.clustering.used[sum] = b.Expires
	return &b, nil
}

// openJoinChallenge opens the challenge on the joining node with the
// unseal key it assembled and refuses one issued for another node.
func (c *Core) openJoinChallenge(j *pendingJoin) ([]byte, error) {
	raw, err := barrier.OpenWithKey(j.keys.Key(), raftChallengePath, j.ch.Challenge)
	if err != nil {
		return nil, fmt.Errorf("open the join challenge: %w", err)
	}
	var b boundChallenge
	if err := json.Unmarshal(raw, &b); err != nil || b.ServerID == "" || len(b.Answer) == 0 {
		return nil, errors.New("the join challenge names no node: the leader runs an older version; upgrade it first")
	}
	id, addr := c.conf.Raft.NodeID(), c.conf.ClusterPort.Addr()
	if b.ServerID != id || b.ClusterAddr != addr {
		return nil, logical.InvalidRequest("refusing to answer a join challenge issued for node %q at %q: this node is %q at %q; "+
			"%s is not the cluster's leader or relays another node's join", b.ServerID, b.ClusterAddr, id, addr, j.leader.APIAddr)
	}
	return b.Answer, nil
}

// RaftChallenge starts a join on the leader: a random answer bound to
// serverID at clusterAddr, sealed under the unseal key, and the seal
// configuration (plaintext metadata: type and share counts) a node needs
// to collect that key. Nothing else leaves before the answer proves the
// caller holds the key: not the keyring ciphertext, not the TLS keyring.
// The leader keeps no state (the answer brings the challenge back); each
// caller address is rate-limited, and all of them together, before any
// encryption (raft_limit.go).
func (c *Core) RaftChallenge(ctx context.Context, serverID, clusterAddr, remote string) (*cluster.Challenge, error) {
	if serverID == "" {
		return nil, logical.InvalidRequest("server_id is required")
	}
	if err := checkClusterAddr(clusterAddr); err != nil {
		return nil, err
	}
	if err := c.clustering.limits.allowChallenge(remote, time.Now()); err != nil {
		return nil, err
	}
	r, err := c.raftLeader()
	if err != nil {
		return nil, err
	}
	if serverID == r.NodeID() {
		// Every pod of the Helm chart lists itself in retry_join: a node
		// that was just initialised must not start joining itself.
		return nil, logical.InvalidRequest("node %q is this leader itself: a node does not join its own cluster", serverID)
	}
	cfg, err := c.conf.Physical.Get(ctx, sealConfigPhysical)
	if err != nil {
		return nil, fmt.Errorf("read seal configuration: %w", err)
	}
	if cfg == nil {
		return nil, logical.ErrNotInitialized
	}
	ct, err := c.sealChallenge(serverID, clusterAddr)
	if err != nil {
		return nil, err
	}
	return &cluster.Challenge{Challenge: ct, SealConfig: json.RawMessage(cfg.Value)}, nil
}

// tlsKeyringForJoiner returns the cluster TLS keyring sealed under the
// unseal key, which a node that answered its challenge holds.
func (c *Core) tlsKeyringForJoiner(ctx context.Context) ([]byte, error) {
	e, err := c.barrier.Get(ctx, raftTLSKey)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errors.New("the cluster TLS keyring is missing")
	}
	return c.barrier.SealWithUnsealKey(raftTLSKey, e.Value)
}

// RaftAnswer ends a join on the leader: a node that opened its challenge
// holds the unseal key, so the node the challenge was issued for is added
// at the address it was issued for (a non-voter that autopilot promotes
// once stable, or a voter where autopilot does not run; addMember), and
// given the members and
// the cluster TLS keyring (sealed under the unseal key). The server_id and
// cluster_addr of the request, if given, must be those. A challenge is
// good for one answer.
func (c *Core) RaftAnswer(ctx context.Context, a system.RaftAnswer) (*cluster.Answered, error) {
	if err := c.clustering.limits.allowAnswer(a.RemoteAddr, time.Now()); err != nil {
		return nil, err
	}
	r, err := c.raftLeader()
	if err != nil {
		return nil, err
	}
	if len(a.Challenge) == 0 {
		return nil, logical.InvalidRequest("challenge is required: the sealed challenge this answer opens")
	}
	b, err := c.openAnswered(a.Challenge, a.Answer)
	if err != nil {
		return nil, err
	}
	if (a.ServerID != "" && a.ServerID != b.ServerID) || (a.ClusterAddr != "" && a.ClusterAddr != b.ClusterAddr) {
		return nil, logical.InvalidRequest("the join challenge was issued for node %q at %q; server_id and cluster_addr must match it", b.ServerID, b.ClusterAddr)
	}
	if err := checkNotTaken(ctx, r, b.ServerID, b.ClusterAddr); err != nil {
		return nil, err
	}
	sealed, err := c.tlsKeyringForJoiner(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.addVoter(r, b.ServerID, b.ClusterAddr); err != nil {
		return nil, raftError(err)
	}
	servers, err := r.Servers(ctx)
	if err != nil {
		return nil, raftError(err)
	}
	out := &cluster.Answered{TLSKeyring: sealed}
	for _, s := range servers {
		out.Peers = append(out.Peers, cluster.Peer{ID: s.ID, Address: s.Address})
	}
	return out, nil
}

// checkNotTaken refuses a join under a member's node id at another
// address, or at a member's address under another id: raft would replace
// that member silently (ATTACK10 F5). The same id at the same address is
// a node joining again, as before.
func checkNotTaken(ctx context.Context, r RaftNode, id, addr string) error {
	servers, err := r.Servers(ctx)
	if err != nil {
		return raftError(err)
	}
	for _, s := range servers {
		switch {
		case s.ID == id && s.Address != addr:
			return logical.InvalidRequest("node id %q is already a member at %s; remove that peer first (operator raft remove-peer %s) or join with another node_id", id, s.Address, id)
		case s.ID != id && s.Address == addr:
			return logical.InvalidRequest("cluster address %s already belongs to member %q; remove that peer first (operator raft remove-peer %s) or join from another address", addr, s.ID, s.ID)
		}
	}
	return nil
}

// joinEarlyWait is how long RaftAnswer waits for raft to refuse a new
// voter outright (not the leader, shutting down) before it answers.
const joinEarlyWait = 250 * time.Millisecond

// addVoter adds the node (addMember) in the background and returns raft's
// error if it comes within joinEarlyWait. Raft commits the change only
// once the new node answers on the cluster port, and it can only once
// this answer has given it the TLS keyring: waiting for the commit here
// would deadlock until joinCommitWait.
func (c *Core) addVoter(r RaftNode, id, addr string) error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), joinCommitWait)
		defer cancel()
		voter, err := addMember(ctx, r, id, addr)
		if err != nil {
			c.logger.Error("raft member not added", "node_id", id, "cluster_addr", addr, "error", err.Error())
		} else {
			c.logger.Info("raft member added", "node_id", id, "cluster_addr", addr, "voter", voter)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(joinEarlyWait):
		return nil
	}
}
