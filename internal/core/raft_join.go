package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/system"
)

const (
	// joinRetryEvery paces retry_join and join -retry.
	joinRetryEvery = 2 * time.Second
	// catchUpWait bounds the wait for a new member's first replication.
	catchUpWait = 2 * time.Minute
)

// pendingJoin is a join between the challenge and the unseal: the leader
// that gave the challenge, and the collector of the cluster's unseal key,
// which is proven by opening the challenge (sealed under that key). The
// node holds nothing else of the cluster's until it has answered.
type pendingJoin struct {
	leader cluster.Leader
	ch     *cluster.Challenge
	keys   *seal.KeyCollector
	// shares are the shares given so far, replayed into the real seal
	// once this node holds the replicated keyring; wiped after.
	shares [][]byte
}

func newPendingJoin(l cluster.Leader, ch *cluster.Challenge) (*pendingJoin, error) {
	keys, err := seal.NewKeyCollector(ch.SealConfig)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", l.APIAddr, err)
	}
	return &pendingJoin{leader: l, ch: ch, keys: keys}, nil
}

// opens is the check of a candidate unseal key: it opens the challenge.
func (j *pendingJoin) opens(key []byte) error {
	_, err := barrier.OpenWithKey(key, raftChallengePath, j.ch.Challenge)
	return err
}

func (j *pendingJoin) wipe() {
	for _, s := range j.shares {
		clear(s)
	}
	j.shares = nil
}

// RaftJoin asks leaders, in order, for a join challenge. The node must use
// raft with a cluster port and have neither raft state nor data. With a
// static seal the join completes at once; with Shamir shares it completes
// at the unseal. With retry the asking goes on in the background.
func (c *Core) RaftJoin(ctx context.Context, leaders []cluster.Leader, retry bool) (bool, error) {
	if c.conf.Raft == nil || c.conf.ClusterPort == nil {
		return false, errNoRaft()
	}
	if c.clustering.join.Load() != nil {
		return true, nil
	}
	if err := c.checkJoinable(ctx); err != nil {
		return false, err
	}
	if len(leaders) == 0 {
		return false, logical.InvalidRequest("leader_api_addr is required")
	}
	if !retry {
		return true, c.askToJoin(ctx, leaders)
	}
	go c.retryJoin(context.WithoutCancel(ctx), leaders)
	return true, nil
}

// RetryJoin runs retry_join from the server configuration: on a node with
// no raft state it asks leaders until one answers or ctx ends; on a member
// it does nothing.
func (c *Core) RetryJoin(ctx context.Context, leaders []cluster.Leader) {
	if c.conf.Raft == nil || len(leaders) == 0 {
		return
	}
	if has, err := c.conf.Raft.HasState(); err != nil || has {
		return
	}
	c.retryJoin(ctx, leaders)
}

func (c *Core) retryJoin(ctx context.Context, leaders []cluster.Leader) {
	for {
		if c.clustering.join.Load() != nil || c.checkJoinable(ctx) != nil {
			return
		}
		err := c.askToJoin(ctx, leaders)
		if err == nil {
			return
		}
		c.logger.Warn("raft join failed; retrying", "error", err.Error(), "in", joinRetryEvery.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(joinRetryEvery):
		}
	}
}

// checkJoinable refuses a node that is a member or holds data.
func (c *Core) checkJoinable(ctx context.Context) error {
	has, err := c.conf.Raft.HasState()
	if err != nil {
		return err
	}
	inited, err := c.seal.Initialized(ctx)
	if err != nil {
		return err
	}
	if has || inited {
		return logical.InvalidRequest("this node is already a member of a raft cluster or initialised; only a new node can join")
	}
	return nil
}

func (c *Core) askToJoin(ctx context.Context, leaders []cluster.Leader) error {
	var errs []error
	for _, l := range leaders {
		ch, err := cluster.FetchChallenge(ctx, l, c.conf.Raft.NodeID(), c.conf.ClusterPort.Addr())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j, err := newPendingJoin(l, ch)
		if err != nil {
			return err
		}
		if !c.clustering.join.CompareAndSwap(nil, j) {
			return nil
		}
		if c.conf.StaticKey != nil {
			c.logger.Info("raft join challenge received; opening it with the static key", "leader", l.APIAddr)
			return c.joinWithStaticKey(ctx, j)
		}
		c.logger.Info("raft join challenge received; unseal this node with the cluster's keys to finish joining", "leader", l.APIAddr)
		return nil
	}
	return logical.InvalidRequest("no leader gave a join challenge: %v", errors.Join(errs...))
}

func (c *Core) joinWithStaticKey(ctx context.Context, j *pendingJoin) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if _, err := j.keys.Static(c.conf.StaticKey, j.opens); err != nil {
		c.clustering.join.Store(nil)
		return fmt.Errorf("open the join challenge with the static key: %w", err)
	}
	if err := c.finishJoin(ctx, j); err != nil {
		return err
	}
	if err := c.seal.AutoUnseal(ctx, c.conf.StaticKey); err != nil {
		return err
	}
	return c.afterUnseal(ctx)
}

// joinSealStatus is the seal status of a node between challenge and
// unseal: initialised (with the cluster's threshold), sealed.
func (c *Core) joinSealStatus(_ context.Context, j *pendingJoin) (system.SealStatus, error) {
	st := j.keys.Status()
	return system.SealStatus{Type: st.Type, Initialized: true, Sealed: true, T: st.T, N: st.N, Progress: st.Progress, Nonce: st.Nonce}, nil
}

// unsealJoin takes a share on a joining node. Once the shares open the
// challenge, the node answers, catches up, and unseals from the replicated
// keyring with the same shares. Called with lifecycle held.
func (c *Core) unsealJoin(ctx context.Context, j *pendingJoin, share []byte, reset bool) (system.SealStatus, error) {
	if reset {
		j.keys.Reset()
		j.wipe()
	}
	if share == nil {
		return c.joinSealStatus(ctx, j)
	}
	done, err := j.keys.Add(share, j.opens)
	if err != nil {
		if errors.Is(err, seal.ErrInvalidKey) {
			j.wipe()
		}
		return system.SealStatus{}, err
	}
	j.shares = append(j.shares, append([]byte(nil), share...))
	if !done {
		return c.joinSealStatus(ctx, j)
	}
	defer j.wipe()
	if err := c.finishJoin(ctx, j); err != nil {
		return system.SealStatus{}, err
	}
	for _, s := range j.shares {
		if _, err := c.seal.Unseal(ctx, s); err != nil {
			return system.SealStatus{}, fmt.Errorf("unseal from the replicated keyring: %w", err)
		}
	}
	if err := c.afterUnseal(ctx); err != nil {
		return system.SealStatus{}, err
	}
	return c.SealStatus(ctx)
}

// finishJoin opens the challenge with the verified unseal key, answers
// the leader, which only then adds this node as a voter and gives it the
// cluster TLS keyring (sealed under the unseal key), takes that keyring,
// and waits until the seal configuration, the keyring and the TLS keyring
// have replicated here. On failure the join is dropped, and the node can
// join again.
func (c *Core) finishJoin(ctx context.Context, j *pendingJoin) (err error) {
	defer func() {
		j.keys.Wipe()
		c.clustering.join.Store(nil)
		if err != nil {
			c.logger.Error("raft join failed", "error", err.Error())
		}
	}()
	answer, err := c.openJoinChallenge(j)
	if err != nil {
		return err
	}
	id, addr := c.conf.Raft.NodeID(), c.conf.ClusterPort.Addr()
	answered, err := cluster.SendAnswer(ctx, j.leader, id, addr, j.ch.Challenge, answer)
	if err != nil {
		return err
	}
	if err := c.takeTLSKeyring(j, answered.TLSKeyring); err != nil {
		return err
	}
	c.logger.Info("raft join accepted; catching up", "leader", j.leader.APIAddr, "node_id", id)
	return waitFor(ctx, catchUpWait, "the cluster's data to replicate to this node", func() bool {
		for _, k := range []string{sealConfigPhysical, keyringPhysical, raftTLSKey} {
			if e, err := c.conf.Physical.Get(ctx, k); err != nil || e == nil {
				return false
			}
		}
		return true
	})
}

func (c *Core) takeTLSKeyring(j *pendingJoin, sealed []byte) error {
	raw, err := barrier.OpenWithKey(j.keys.Key(), raftTLSKey, sealed)
	if err != nil {
		return fmt.Errorf("open the cluster TLS keyring: %w", err)
	}
	defer clear(raw)
	var k cluster.Keyring
	if err := json.Unmarshal(raw, &k); err != nil {
		return fmt.Errorf("decode the cluster TLS keyring: %w", err)
	}
	return c.setClusterKeyring(&k)
}
