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

	"github.com/cofferhq/coffer/internal/logical"
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

// sealChallenge makes a challenge for serverID at clusterAddr, sealed by
// the barrier.
func (c *Core) sealChallenge(ctx context.Context, serverID, clusterAddr string) ([]byte, error) {
	b := boundChallenge{ServerID: serverID, ClusterAddr: clusterAddr, Expires: time.Now().Add(challengeTTL).Unix(), Answer: make([]byte, 32)}
	_, _ = rand.Read(b.Answer)
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return c.barrier.EncryptValue(ctx, raftChallengePath, raw)
}

// openAnswered checks an answer on the leader: the sealed challenge must
// open with this barrier, be unexpired and unused, and the answer must
// match. It returns the node the challenge was issued for and marks the
// challenge used.
func (c *Core) openAnswered(sealed, answer []byte) (*boundChallenge, error) {
	raw, err := c.barrier.DecryptValue(raftChallengePath, sealed)
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

// openJoinChallenge opens the challenge on the joining node with its
// unsealed throw-away barrier and refuses one issued for another node.
func (c *Core) openJoinChallenge(j *pendingJoin) ([]byte, error) {
	raw, err := j.barrier.DecryptValue(raftChallengePath, j.ch.Challenge)
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
