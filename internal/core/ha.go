package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/system"
)

// Active and standby (Vault's HA model). With an HA storage (Config.HA),
// an unsealed server holds its keys but builds nothing until it holds
// leadership: only then does postUnseal's state exist, so the token
// sweeper, lease expiry and revocations, the database engine's rotations,
// key rotation and every other background writer run on the active server
// alone, and every cache is built from the storage as it is when the server
// becomes active. Losing leadership tears that state down at once, as a
// seal would, and the server stands by again. A standby answers the
// node-local sys/ paths itself; the HTTP layer forwards everything else to
// the active server (httpapi.Forwarder).
//
// The active server keeps its advertisement (api_addr, cluster_addr,
// hostname) in the barrier at leaderPrefix+<value it campaigned with>, as
// Vault does; standbys read it there.

const (
	leaderPrefix = "core/leader/"
	// standbyPoll is how often a standby looks up the active server and
	// echoes to it.
	standbyPoll = time.Second
	// echoExpiry drops standbys that stopped echoing from sys/ha-status.
	echoExpiry = 30 * time.Second
)

// HANode is one server of the cluster as sys/ha-status reports it.
type HANode = system.HANode

// advert is what the active server stores at leaderPrefix+value.
type advert struct {
	APIAddr     string    `json:"api_addr"`
	ClusterAddr string    `json:"cluster_addr"`
	Hostname    string    `json:"hostname"`
	ActiveTime  time.Time `json:"active_time"`
}

// haRun is the HA side of a Core; nil without an HA storage.
type haRun struct {
	backend physical.HABackend
	// stepDownWait is how long a server that stepped down waits before it
	// campaigns again (Vault waits 10 s).
	stepDownWait time.Duration

	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}

	standby     atomic.Bool
	activeSince atomic.Pointer[time.Time]
	leader      atomic.Pointer[advert] // the active server's, as last read
	value       atomic.Pointer[string] // what this server campaigned with, while active
	stepDown    chan struct{}          // buffered: asks the active loop to resign

	echoMu sync.Mutex
	echoes map[string]HANode // by cluster (else API) address
}

func newHARun(b physical.HABackend) *haRun {
	if b == nil || !b.HAEnabled() {
		return nil
	}
	return &haRun{backend: b, stepDownWait: 10 * time.Second, stepDown: make(chan struct{}, 1), echoes: map[string]HANode{}}
}

// afterUnseal runs once the barrier is open: straight to active without HA,
// else standing by until leadership comes. Called with lifecycle held.
func (c *Core) afterUnseal(ctx context.Context) error {
	if c.ha == nil {
		return c.postUnseal(ctx)
	}
	// A standby too needs the cluster's identity (sys/health) and its
	// cluster port's keyring, without which raft cannot reach it.
	if _, err := c.loadCluster(ctx); err != nil {
		c.barrier.Seal()
		return err
	}
	if err := c.startCluster(ctx); err != nil {
		c.barrier.Seal()
		return err
	}
	c.barrier.SetStandby(true)
	c.ha.standby.Store(true)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	c.ha.mu.Lock()
	c.ha.cancel, c.ha.done = cancel, done
	c.ha.mu.Unlock()
	go func() {
		defer close(done)
		c.campaignLoop(runCtx)
	}()
	go c.standbyLoop(runCtx)
	c.logger.Info("unsealed; standing by until this node is elected active")
	return nil
}

// stopHA ends the campaign loop and waits for it; the caller then tears
// down what is left. Must not be called with lifecycle held.
func (c *Core) stopHA() {
	if c.ha == nil {
		return
	}
	c.ha.mu.Lock()
	cancel, done := c.ha.cancel, c.ha.done
	c.ha.cancel, c.ha.done = nil, nil
	c.ha.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// campaignLoop wins leadership, serves as active until it is lost or given
// up, and campaigns again, until ctx ends.
func (c *Core) campaignLoop(ctx context.Context) {
	for ctx.Err() == nil {
		value := uuid.NewString()
		lost, err := c.ha.backend.Campaign(ctx, value)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Error("ha campaign", "error", err.Error())
				sleep(ctx, time.Second)
			}
			continue
		}
		if err := c.becomeActive(ctx, value); err != nil {
			if ctx.Err() == nil {
				c.logger.Error("become active; giving leadership up", "error", err.Error())
			}
			_ = c.ha.backend.Resign(context.WithoutCancel(ctx))
			if ctx.Err() == nil && c.barrier.Sealed() {
				// The stored keyring no longer opens with this server's
				// key (rekeyed on the server that was active): the barrier
				// dropped its keys. Seal for good, so that unseal takes the
				// current shares; left standing by, the server answered
				// sealed, ignored every share and campaigned in vain.
				c.logger.Error("the stored keyring does not open with this server's unseal key (it was rekeyed): sealed; unseal with the current key shares")
				go func() { _ = c.Seal(context.WithoutCancel(ctx)) }() // waits for this loop to end
				return
			}
			sleep(ctx, time.Second)
			continue
		}
		stepped := false
		select {
		case <-lost:
			c.logger.Warn("leadership lost; standing by")
		case <-c.ha.stepDown:
			stepped = true
			c.logger.Info("stepping down")
		case <-ctx.Done():
			return // Seal tears down and resigns
		}
		c.becomeStandby(context.WithoutCancel(ctx))
		if stepped {
			if err := c.ha.backend.Resign(context.WithoutCancel(ctx)); err != nil {
				c.logger.Error("step down", "error", err.Error())
			}
			sleep(ctx, c.ha.stepDownWait)
		}
	}
}

// becomeActive builds the active state from storage as it is now.
func (c *Core) becomeActive(ctx context.Context, value string) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if ctx.Err() != nil || c.barrier.Sealed() {
		return errors.New("sealed while campaigning")
	}
	if c.purge != nil {
		c.purge() // another server wrote beneath this one's cache
	}
	if err := c.barrier.ReloadKeyring(ctx); err != nil {
		return err
	}
	c.barrier.SetStandby(false)
	if err := c.haClusterTLS(ctx); err != nil {
		c.barrier.SetStandby(true)
		return err
	}
	if err := c.activate(ctx); err != nil {
		c.barrier.SetStandby(true)
		return err
	}
	now := time.Now().UTC()
	host, _ := os.Hostname()
	ad := advert{APIAddr: c.conf.APIAddr, ClusterAddr: c.conf.ClusterAddr, Hostname: host, ActiveTime: now}
	if err := c.writeAdvert(ctx, value, ad); err != nil {
		c.deactivate(ctx)
		c.barrier.SetStandby(true)
		return err
	}
	c.ha.leader.Store(&ad)
	c.ha.value.Store(&value)
	c.ha.activeSince.Store(&now)
	c.ha.standby.Store(false)
	c.logger.Info("active", "api_addr", ad.APIAddr, "cluster_addr", ad.ClusterAddr)
	return nil
}

// writeAdvert stores this server's advertisement and drops those of
// earlier active servers.
func (c *Core) writeAdvert(ctx context.Context, value string, ad advert) error {
	if err := logical.PutJSON(ctx, c.barrier, leaderPrefix+value, ad); err != nil {
		return fmt.Errorf("write leader advertisement: %w", err)
	}
	old, err := c.barrier.List(ctx, leaderPrefix)
	if err != nil {
		return nil // only tidying
	}
	for _, k := range old {
		if k != value {
			_ = c.barrier.Delete(ctx, leaderPrefix+k)
		}
	}
	return nil
}

// becomeStandby drops the active state (stopping every background writer)
// and keeps the keys.
func (c *Core) becomeStandby(ctx context.Context) {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	c.ha.standby.Store(true)
	c.ha.activeSince.Store(nil)
	c.ha.leader.Store(nil)
	c.ha.value.Store(nil)
	c.barrier.SetStandby(true)
	c.deactivate(ctx)
}

// reclaimLeadership records this active server as the leader again, and
// its advertisement, after a snapshot restore brought back the lock record
// and advertisements of the snapshot's time: standbys trust only a record
// naming the current leader, so until then they know no active node. When
// that fails the server steps down, so that an election records a new
// leader. Called with lifecycle held; does nothing on a standby.
func (c *Core) reclaimLeadership(ctx context.Context) {
	if c.ha == nil || c.ha.standby.Load() {
		return
	}
	value, ad := c.ha.value.Load(), c.ha.leader.Load()
	if value == nil || ad == nil {
		return
	}
	var err error
	if r, ok := c.ha.backend.(physical.HAReclaimer); ok {
		err = r.Reclaim(ctx, *value)
	}
	if err == nil {
		err = c.writeAdvert(ctx, *value, *ad)
	}
	if err != nil {
		c.logger.Error("could not record this node as active again after the restore; stepping down", "error", err.Error())
		select {
		case c.ha.stepDown <- struct{}{}:
		default:
		}
		return
	}
	c.logger.Info("recorded this node as active again after the restore")
}

// standbyLoop keeps a standby's view of the active server fresh and echoes
// to it, until ctx ends.
func (c *Core) standbyLoop(ctx context.Context) {
	t := time.NewTicker(standbyPoll)
	defer t.Stop()
	for {
		if c.ha.standby.Load() {
			c.standbyClusterTLS(ctx)
			c.refreshLeader(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshLeader reads the active server's advertisement, reloading the
// keyring when the active server rotated it meanwhile, and echoes to it.
func (c *Core) refreshLeader(ctx context.Context) {
	value, held, err := c.ha.backend.LeaderValue(ctx)
	if err != nil || !held {
		c.ha.leader.Store(nil)
		return
	}
	var ad advert
	found, err := logical.GetJSON(ctx, c.barrier, leaderPrefix+value, &ad)
	if errors.Is(err, barrier.ErrUnknownTerm) {
		if rerr := c.barrier.ReloadKeyring(ctx); rerr != nil {
			c.logger.Warn("reload keyring on a standby", "error", rerr.Error())
			return
		}
		found, err = logical.GetJSON(ctx, c.barrier, leaderPrefix+value, &ad)
	}
	if err != nil || !found {
		c.ha.leader.Store(nil)
		return
	}
	c.ha.leader.Store(&ad)
	if c.conf.HAEcho != nil && ad.ClusterAddr != "" {
		host, _ := os.Hostname()
		ectx, cancel := context.WithTimeout(ctx, standbyPoll)
		defer cancel()
		self := c.withRaftProgress(HANode{Hostname: host, APIAddr: c.conf.APIAddr, ClusterAddr: c.conf.ClusterAddr})
		_ = c.conf.HAEcho(ectx, ad.ClusterAddr, self)
	}
}

// haClusterTLS makes sure the cluster port of a server becoming active on
// an HA storage other than raft has its keyring: a store initialised
// before PostgreSQL HA servers opened the port has none, so the first
// active server writes it, and the standbys read it (standbyClusterTLS).
func (c *Core) haClusterTLS(ctx context.Context) error {
	if c.conf.ClusterPort == nil || c.conf.Raft != nil || c.clusterTLS.Load() {
		return nil
	}
	var k cluster.Keyring
	found, err := logical.GetJSON(ctx, c.barrier, raftTLSKey, &k)
	if err != nil {
		return fmt.Errorf("read cluster TLS keyring: %w", err)
	}
	if found {
		return c.setClusterKeyring(&k)
	}
	c.logger.Info("this store has no cluster TLS keyring yet; writing one")
	return c.newClusterTLS(ctx)
}

// standbyClusterTLS reads the keyring a standby unsealed without, once the
// active server has written it. The standby's cache may remember it as
// absent, so it is purged first; this only happens until the keyring exists.
func (c *Core) standbyClusterTLS(ctx context.Context) {
	if c.conf.ClusterPort == nil || c.conf.Raft != nil || c.clusterTLS.Load() {
		return
	}
	if c.purge != nil {
		c.purge()
	}
	var k cluster.Keyring
	found, err := logical.GetJSON(ctx, c.barrier, raftTLSKey, &k)
	if err != nil || !found {
		return
	}
	if err := c.setClusterKeyring(&k); err != nil {
		c.logger.Warn("set the cluster TLS keyring on a standby", "error", err.Error())
		return
	}
	c.logger.Info("cluster TLS keyring read from the store; this standby can forward now")
}

// settleWait bounds how long an unseal waits for the HA state to settle.
const settleWait = 10 * time.Second

// waitSettled waits until the server is active or knows the active server,
// for at most settleWait; it does nothing without HA.
func (c *Core) waitSettled(ctx context.Context) {
	if c.ha == nil {
		return
	}
	deadline := time.Now().Add(settleWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c.state.Load() != nil || (c.Standby() && c.ha.leader.Load() != nil) || !c.Standby() {
			return
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
