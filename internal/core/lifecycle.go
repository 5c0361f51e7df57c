package core

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/cubbyhole"
	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/quota"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/token"
	"github.com/cofferhq/coffer/internal/wrapping"
)

// Barrier prefixes of the core's own state.
const (
	clusterKey   = "core/cluster"
	policyPrefix = "sys/policy/"
	tokenPrefix  = "sys/token/"
	quotaPrefix  = "sys/quotas/"
)

// SealStatus reports the seal's state.
func (c *Core) SealStatus(ctx context.Context) (system.SealStatus, error) {
	if j := c.clustering.join.Load(); j != nil {
		return c.joinSealStatus(ctx, j)
	}
	c.forgetSealedReads()
	st, err := c.seal.Status(ctx)
	if err != nil {
		return system.SealStatus{}, fmt.Errorf("seal status: %w", err)
	}
	if c.conf.StaticKey != nil {
		st.Type = seal.TypeStatic // before init the stored config does not say so yet
	}
	return system.SealStatus{
		Type: st.Type, Initialized: st.Initialized, Sealed: st.Sealed,
		T: st.T, N: st.N, Progress: st.Progress, Nonce: st.Nonce,
	}, nil
}

// Initialize creates the keys, the root token and the empty tables, and
// returns the unseal key shares and the root token. The server stays sealed
// afterwards, as Vault's does, unless it has a static key.
func (c *Core) Initialize(ctx context.Context, shares, threshold int) (system.InitResult, error) {
	if err := c.raftBootstrap(ctx); err != nil {
		return system.InitResult{}, err
	}
	if c.conf.StaticKey != nil {
		return c.initializeStatic(ctx)
	}
	return c.initialize(ctx, shares, threshold, "")
}

func (c *Core) initialize(ctx context.Context, shares, threshold int, rootID string) (_ system.InitResult, err error) {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	unlock, err := c.lockInit(ctx)
	if err != nil {
		return system.InitResult{}, err
	}
	defer unlock()
	u, err := c.recordInit(ctx)
	if err != nil {
		return system.InitResult{}, err
	}
	defer func() { u.undo(ctx, c, err) }()
	keys, err := c.seal.Init(ctx, shares, threshold)
	if err != nil {
		return system.InitResult{}, err
	}
	key := keys[0]
	if len(keys) > 1 {
		if key, err = seal.Combine(keys[:threshold]); err != nil {
			return system.InitResult{}, fmt.Errorf("combine new shares: %w", err)
		}
		defer clear(key) // sealed again below: no copy of the key may stay
	}
	u.keyringStored(key)
	if err := c.barrier.Unseal(ctx, key); err != nil {
		return system.InitResult{}, fmt.Errorf("first unseal: %w", err)
	}
	defer c.barrier.Seal()
	defer func() {
		if err != nil {
			u.checkOwned(ctx) // before Seal stores the keyring again
		}
	}()
	root, err := c.bootstrap(ctx, rootID)
	if err != nil {
		return system.InitResult{}, err
	}
	if err := u.done(ctx); err != nil {
		return system.InitResult{}, err
	}
	return system.InitResult{Keys: keys, RootToken: root}, nil
}

// bootstrap writes what a new server needs while the barrier is unsealed
// for the first time: its cluster identity and the root token.
func (c *Core) bootstrap(ctx context.Context, rootID string) (string, error) {
	if err := logical.PutJSON(ctx, c.barrier, clusterKey, c.newClusterInfo()); err != nil {
		return "", fmt.Errorf("write cluster identity: %w", err)
	}
	if err := c.newClusterTLS(ctx); err != nil {
		return "", err
	}
	ts, err := c.newTokenStore(ctx, nil, nil, nil)
	if err != nil {
		return "", err
	}
	root, err := ts.CreateRoot(ctx, rootID)
	if err != nil {
		return "", fmt.Errorf("create root token: %w", err)
	}
	return root, nil
}

// newTokenStore opens the token store; onRevoke (may be nil) hears of
// every token revoked.
// Its TTLs are the server's until view is pointed at the mount table (see
// tokenMountView); view may be nil.
func (c *Core) newTokenStore(ctx context.Context, view *tokenMountView, onRevoke func(context.Context, *token.Entry), onCreate func(*token.Entry)) (*token.Store, error) {
	var sys logical.SystemView = logical.StaticSystemView{DefaultTTL: c.conf.DefaultLeaseTTL, MaxTTL: c.conf.MaxLeaseTTL}
	if view != nil {
		view.defaults = sys.(logical.StaticSystemView)
		sys = view
	}
	ts, err := token.New(ctx, token.Config{
		Storage:    logical.NewView(c.barrier, tokenPrefix),
		System:     sys,
		Logger:     c.logger.With("component", "token"),
		CheckRenew: c.checkRenew,
		OnRevoke:   onRevoke,
		OnCreate:   onCreate,
		// Lookups show the policies a token's entity adds, as Vault's do.
		IdentityPolicies: c.identityPolicies,
	})
	if err != nil {
		return nil, fmt.Errorf("open token store: %w", err)
	}
	return ts, nil
}

// checkRenew asks the auth method that issued a login token whether it may
// be renewed (the user may be gone or have other policies by now). The
// method may set the Auth's Period and ExplicitMaxTTL to its role's current
// ones (tokenutil.Params.ApplyRenewal): e then renews by that period, and
// its hard cap tightens (never loosens) to that max TTL.
func (c *Core) checkRenew(ctx context.Context, e *token.Entry) error {
	st := c.state.Load()
	if st == nil {
		return logical.ErrSealed
	}
	route, rest := st.router.Match(e.Path)
	if route == nil {
		return logical.CodedError(logical.ErrPermissionDenied, "the auth method that issued this token is no longer mounted")
	}
	r, ok := route.Backend.(logical.AuthRenewer)
	if !ok {
		return nil
	}
	auth := &logical.Auth{Policies: e.Policies, TokenPolicies: e.Policies, Metadata: e.Meta, DisplayName: e.DisplayName,
		Period: e.Period, ExplicitMaxTTL: e.ExplicitMaxTTL}
	if err := r.RenewAuth(ctx, &logical.Request{
		Operation: logical.UpdateOperation, Path: rest, Storage: route.Storage, MountPoint: route.Path, Auth: auth,
	}); err != nil {
		return err
	}
	e.Period = max(auth.Period, 0)
	if m, ok := st.mounts.MountFor(e.Path); ok {
		token.CapPeriod(&e.Period, m.MaxLeaseTTL)
	}
	if m := auth.ExplicitMaxTTL; m > 0 && (e.ExplicitMaxTTL == 0 || m < e.ExplicitMaxTTL) {
		e.ExplicitMaxTTL = m
	}
	return nil
}

// Unseal adds one key share. When the threshold is reached the barrier opens
// and the mounts, policies and tokens are loaded.
// With HA it returns once the server is active or knows the active server
// (up to a few seconds), so that the next request is served or forwarded.
func (c *Core) Unseal(ctx context.Context, share []byte, reset bool) (system.SealStatus, error) {
	st, err := c.unseal(ctx, share, reset)
	if err == nil && !st.Sealed {
		c.waitSettled(ctx)
	}
	return st, err
}

func (c *Core) unseal(ctx context.Context, share []byte, reset bool) (system.SealStatus, error) {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if j := c.clustering.join.Load(); j != nil {
		return c.unsealJoin(ctx, j, share, reset)
	}
	if reset {
		c.seal.ResetUnseal()
	}
	if share != nil && c.Sealed() {
		c.forgetSealedReads()
		st, err := c.seal.Unseal(ctx, share)
		if err != nil {
			return system.SealStatus{}, err
		}
		if !st.Sealed {
			if err := c.afterUnseal(ctx); err != nil {
				return system.SealStatus{}, err
			}
		}
	}
	return c.SealStatus(ctx)
}

// postUnseal builds the active state. Called with lifecycle held and the
// barrier unsealed; on failure the barrier is sealed again.
func (c *Core) postUnseal(ctx context.Context) error {
	if err := c.activate(ctx); err != nil {
		c.barrier.Seal()
		return err
	}
	return nil
}

// activate builds the active state and starts the background work that
// comes with it. Called with lifecycle held and the barrier unsealed.
func (c *Core) activate(ctx context.Context) error {
	ci, err := c.loadCluster(ctx)
	if err != nil {
		return err
	}
	if err := c.startCluster(ctx); err != nil {
		return err
	}
	rt := router.New()
	lm := &leaseMounts{router: rt}
	var ts *token.Store
	leases := c.newLeaseManager(lm, &ts)
	cubby := cubbyhole.NewStore(logical.NewView(c.barrier, cubbyholePrefix))
	revokeLeases, destroyCubbyhole := revokeTokenLeases(leases, c.logger), c.destroyCubbyhole(cubby)
	onRevoke := func(ctx context.Context, e *token.Entry) {
		revokeLeases(ctx, e)
		destroyCubbyhole(ctx, e)
		c.conf.Metrics.TokenRevoked()
	}
	tokenView := &tokenMountView{}
	if ts, err = c.newTokenStore(ctx, tokenView, onRevoke, c.tokenCreated(rt)); err != nil {
		return err
	}
	quotas := quota.New(logical.NewView(c.barrier, quotaPrefix))
	if err := quotas.Load(ctx); err != nil {
		return err
	}
	mt := &mountTable{
		storage: c.barrier, router: rt, engines: c.conf.Engines, auths: c.conf.AuthMethods,
		builtins: builtinBackends{sys: c.sys, tokens: ts.Backend(), tokenStorage: logical.NewView(c.barrier, tokenPrefix),
			cubbyhole: cubbyhole.NewBackend(cubby, ts, token.IsBatch), cubbyholeStorage: logical.NewView(c.barrier, cubbyholePrefix)},
		logger: c.logger, defaults: logical.StaticSystemView{DefaultTTL: c.conf.DefaultLeaseTTL, MaxTTL: c.conf.MaxLeaseTTL},
		revokeIssued: ts.RevokeByPath, dropQuotas: quotas.DeleteUnder, revokeLeases: revokeMountLeases(leases),
		movers: []pathMover{{"tokens", ts.MovePath}, {"rate-limit quotas", quotas.MovePath}, {"leases", leases.MovePrefix}},
	}
	lm.mounts = mt
	ids := identity.New(identity.Config{
		Storage: logical.NewView(c.barrier, identityPrefix), Mounts: mt, Logger: c.logger.With("component", "identity"),
	})
	if err := ids.Load(ctx); err != nil {
		return err
	}
	mt.builtins.identity = ids.Backend()
	if err := mt.load(ctx); err != nil {
		return err
	}
	mt.resumeMove(ctx)
	tokenView.mt.Store(mt)
	guard, err := c.newLockout(ctx, mt)
	if err != nil {
		return err
	}
	auditor, err := c.openAudit(ctx)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ts.Start(runCtx)
	leases.Start(runCtx)
	st := &active{router: rt, tokens: ts, leases: leases, policies: newPolicyStore(logical.NewView(c.barrier, policyPrefix)), mounts: mt, quotas: quotas, lockout: guard, identity: ids, audit: auditor, stop: stop,
		wrapper: wrapping.New(ts, cubby, c.logger.With("component", "wrapping"))}
	st.background.Go(func() { c.barrier.RunAutoRotate(runCtx, c.logger.With("component", "barrier")) })
	st.background.Go(func() { c.tidyCubbyholes(runCtx, cubby, ts) })
	st.background.Go(func() { c.reportTokenCount(runCtx, ts) })
	st.background.Go(func() { c.runAutoSnapshots(runCtx) })
	c.state.Store(st)
	c.startAutopilot(runCtx)
	c.logger.Info("unsealed", "cluster_id", ci.ID)
	return nil
}

// Seal drops the active state and every key; an active server of an HA
// cluster gives leadership up first.
func (c *Core) Seal(ctx context.Context) error {
	c.stopHA() // before lifecycle: the campaign loop takes it to change state
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	wasActive := c.state.Load() != nil
	c.deactivate(ctx)
	if c.ha != nil {
		c.ha.standby.Store(false)
		c.ha.activeSince.Store(nil)
		c.ha.leader.Store(nil)
		if wasActive {
			if err := c.ha.backend.Resign(ctx); err != nil {
				c.logger.Warn("give leadership up at seal", "error", err.Error())
			}
		}
	}
	c.seal.Seal(ctx)
	c.logger.Info("sealed")
	return nil
}

// deactivate stops the background work and drops the active state, if
// any. Called with lifecycle held.
func (c *Core) deactivate(ctx context.Context) {
	if st := c.state.Swap(nil); st != nil {
		c.teardown(ctx, st)
	}
}

// teardown stops everything st runs and drops its caches; the barrier
// stays as it is. Called with lifecycle held, once st is no longer served.
func (c *Core) teardown(ctx context.Context, st *active) {
	c.stopAutopilot()
	st.stop()
	st.background.Wait()
	st.tokens.Stop() // waits for a sweep in progress and drops the cache
	st.leases.Stop() // waits for revocations in flight; before the backends go
	st.mounts.unload(ctx)
	st.quotas.Reset()
	if err := st.audit.Close(); err != nil {
		c.logger.Error("close audit devices", "error", err.Error())
	}
}

// Sealed reports whether the core is sealed (a standby is not).
func (c *Core) Sealed() bool { return c.state.Load() == nil && !c.Standby() }
