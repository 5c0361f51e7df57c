package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/system"
)

const (
	// joinRetryEvery paces retry_join and join -retry at first; the
	// pause doubles after each failure up to joinRetryMax.
	joinRetryEvery = 2 * time.Second
	joinRetryMax   = 10 * time.Second
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

// dropJoin forgets j if it is the pending join and wipes what it
// collected. Called with lifecycle held.
func (c *Core) dropJoin(j *pendingJoin) {
	c.clustering.join.CompareAndSwap(j, nil)
	j.keys.Wipe()
	j.wipe()
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
//
// The endpoint needs no token (the node has none yet), so anyone who
// reaches an uninitialised node can call it: the latest call wins (ATTACK10
// F2). It replaces any join loop and any pending join, so an operator can
// always take a node back from a join they did not start; refusing instead
// would let whoever came first hold the node until a restart. A failed
// explicit join resumes retry_join when the configuration has one.
func (c *Core) RaftJoin(ctx context.Context, leaders []cluster.Leader, retry bool) (bool, error) {
	if c.conf.Raft == nil || c.conf.ClusterPort == nil {
		return false, errNoRaft()
	}
	if len(leaders) == 0 {
		return false, logical.InvalidRequest("leader_api_addr is required")
	}
	for _, l := range leaders {
		if err := l.Check(); err != nil {
			return false, logical.InvalidRequest("%s", err.Error())
		}
	}
	if err := c.checkJoinable(ctx); err != nil {
		return false, err
	}
	runCtx, gen := c.startJoin()
	c.dropPendingJoin()
	if retry {
		go c.retryJoin(runCtx, gen, leaders)
		return true, nil
	}
	callCtx, cancel := context.WithCancel(runCtx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if err := c.askToJoin(callCtx, gen, leaders); err != nil {
		c.resumeRetryJoin(gen)
		return false, err
	}
	return true, nil
}

// RetryJoin runs retry_join from the server configuration: on a node with
// no raft state it asks leaders until one answers or ctx ends; on a member
// it does nothing. It is resumed when a later join fails or is dropped.
func (c *Core) RetryJoin(ctx context.Context, leaders []cluster.Leader) {
	if c.conf.Raft == nil || len(leaders) == 0 {
		return
	}
	var ok []cluster.Leader
	for _, l := range leaders {
		if err := l.Check(); err != nil {
			c.logger.Error("retry_join: leader ignored", "error", err.Error())
			continue
		}
		ok = append(ok, l)
	}
	r := &c.clustering.run
	r.mu.Lock()
	r.config, r.base = ok, ctx
	r.mu.Unlock()
	if has, err := c.conf.Raft.HasState(); err != nil || has || len(ok) == 0 {
		return
	}
	runCtx, gen := c.startJoin()
	c.retryJoin(runCtx, gen, ok)
}

// joinRun is the one join a node runs at a time (ATTACK10 F3): each join
// cancels the one before, so repeated calls never pile up loops.
type joinRun struct {
	mu     sync.Mutex
	gen    uint64
	cancel context.CancelFunc
	// config and base are retry_join's leaders and the server's context,
	// kept to resume retry_join when a later join fails.
	config []cluster.Leader
	base   context.Context
}

// startJoin ends the running join, if any, and returns the context and
// generation of the next one.
func (c *Core) startJoin() (context.Context, uint64) {
	r := &c.clustering.run
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
	}
	base := r.base
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	r.gen++
	r.cancel = cancel
	return ctx, r.gen
}

// stopJoins ends the running join loop, if any; Seal and tests call it.
func (c *Core) stopJoins() {
	r := &c.clustering.run
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	r.gen++
}

// resumeRetryJoin restarts retry_join from the configuration, if any, in
// the background, unless a join later than gen (0: any) has started.
func (c *Core) resumeRetryJoin(gen uint64) {
	r := &c.clustering.run
	r.mu.Lock()
	leaders, current := r.config, gen == 0 || r.gen == gen
	r.mu.Unlock()
	if len(leaders) == 0 || !current {
		return
	}
	ctx, next := c.startJoin()
	c.logger.Info("resuming retry_join")
	go c.retryJoin(ctx, next, leaders)
}

// dropPendingJoin forgets the pending join, if any, and wipes what it
// collected.
func (c *Core) dropPendingJoin() {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if j := c.clustering.join.Swap(nil); j != nil {
		c.logger.Warn("a pending raft join was replaced by a new join request", "leader", j.leader.APIAddr)
		j.keys.Wipe()
		j.wipe()
	}
}

// retryJoin asks leaders until one gives a challenge, backing off up to
// joinRetryMax; it ends when a later join replaces it, the node has a
// pending join or is initialised or a member, or ctx ends.
func (c *Core) retryJoin(ctx context.Context, gen uint64, leaders []cluster.Leader) {
	wait := joinRetryEvery
	for {
		if ctx.Err() != nil || c.clustering.join.Load() != nil || c.checkJoinable(ctx) != nil {
			return
		}
		err := c.askToJoin(ctx, gen, leaders)
		if err == nil || errors.Is(err, errJoinReplaced) {
			return
		}
		c.logger.Warn("raft join failed; retrying", "in", wait.String())
		sleep(ctx, wait)
		wait = min(2*wait, joinRetryMax)
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

// errJoinReplaced ends a join that a later one replaced.
var errJoinReplaced = logical.InvalidRequest("this join was replaced by a later join request")

// askToJoin takes the first challenge a leader gives. What a leader
// answered goes to the server log only: the caller needs no token, and
// echoing it would make the endpoint a port scanner (ATTACK10 F3).
func (c *Core) askToJoin(ctx context.Context, gen uint64, leaders []cluster.Leader) error {
	var tried []string
	for _, l := range leaders {
		tried = append(tried, l.APIAddr)
		ch, err := cluster.FetchChallenge(ctx, l, c.conf.Raft.NodeID(), c.conf.ClusterPort.Addr())
		var j *pendingJoin
		if err == nil {
			j, err = newPendingJoin(l, ch)
		}
		if err != nil {
			c.logger.Warn("raft join: no join challenge", "leader", l.APIAddr, "error", err.Error())
			continue
		}
		if !c.installPendingJoin(gen, j) {
			return errJoinReplaced
		}
		if c.conf.StaticKey != nil {
			c.logger.Info("raft join challenge received; opening it with the static key", "leader", l.APIAddr)
			return c.joinWithStaticKey(ctx, j)
		}
		c.logger.Info("raft join challenge received; unseal this node with the cluster's keys to finish joining", "leader", l.APIAddr)
		return nil
	}
	return logical.InvalidRequest("no join challenge: the leader at %s did not answer as a Coffer leader; see this server's log", strings.Join(tried, ", "))
}

// installPendingJoin makes j the pending join unless a later join started
// or another is pending.
func (c *Core) installPendingJoin(gen uint64, j *pendingJoin) bool {
	r := &c.clustering.run
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen == gen && c.clustering.join.CompareAndSwap(nil, j)
}

func (c *Core) joinWithStaticKey(ctx context.Context, j *pendingJoin) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if _, err := j.keys.Static(c.conf.StaticKey, j.opens); err != nil {
		c.dropJoin(j)
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
	if errors.Is(err, seal.ErrInvalidKey) {
		// Keeping the join would leave the node bound to a leader whose
		// challenge these shares do not open, possibly not this
		// cluster's: drop it, so that the operator can join again.
		c.dropJoin(j)
		c.resumeRetryJoin(0)
		return system.SealStatus{}, logical.InvalidRequest("the unseal shares do not open the join challenge of the leader at %s: either the shares are wrong or %s is not this cluster's leader; "+
			"the join was dropped and the unseal progress reset: join again", j.leader.APIAddr, j.leader.APIAddr)
	}
	if err != nil {
		return system.SealStatus{}, err
	}
	j.shares = append(j.shares, append([]byte(nil), share...))
	if !done {
		return c.joinSealStatus(ctx, j)
	}
	defer j.wipe()
	if err := c.finishJoin(ctx, j); err != nil {
		c.resumeRetryJoin(0)
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
