package core

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/autosnapshot"
	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/lease"
	"github.com/cofferhq/coffer/internal/lockout"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/quota"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/telemetry"
	"github.com/cofferhq/coffer/internal/token"
	"github.com/cofferhq/coffer/internal/wrapping"
)

// Config is what New needs to build a Core.
type Config struct {
	Physical    physical.Backend
	StorageType string
	Logger      *slog.Logger
	// DefaultLeaseTTL and MaxLeaseTTL apply to mounts that do not set their own.
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	// ClusterName, when set, is reported instead of the name kept in the
	// store (which is generated at init when none is configured).
	ClusterName string
	Version     string
	// Engines and AuthMethods map type names to factories (see registry).
	Engines     map[string]logical.Factory
	AuthMethods map[string]logical.Factory
	// StaticKey, when set, is the 32-byte unseal key read from a key file:
	// the server auto-unseals with it and init returns no shares.
	StaticKey []byte
	// ProtectedPaths are files and directories the server depends on (the
	// storage path, the seal key file, the configuration file): no
	// automated snapshot directory may be inside or above one.
	ProtectedPaths []string
	// LeaseRetryBase and LeaseRetryMax shape the backoff of failed lease
	// revocations (lease.Config); zero means the lease package's defaults.
	LeaseRetryBase, LeaseRetryMax time.Duration
	// UserLockout is the server-wide user lockout configuration (the
	// user_lockout stanzas and the environment switch); the zero value
	// gives Vault's defaults.
	UserLockout lockout.Policy
	// AuditDevices are the audit devices of the server configuration,
	// applied at every unseal; AuditAPIDisabled forbids enabling or
	// disabling devices through sys/audit.
	AuditDevices     []audit.Config
	AuditAPIDisabled bool
	// Metrics, when set, receives the server's metrics (and storage is
	// timed); Loggers, when set, are the levels sys/loggers changes.
	Metrics *telemetry.Metrics
	Loggers *telemetry.Levels
	// Raft and ClusterPort are set when the storage is raft on a cluster
	// port (core/raft.go): init bootstraps the cluster, unseal hands the
	// port its TLS keyring, and the sys/storage/raft endpoints work.
	// ClusterPort alone is set for another HA storage (PostgreSQL): init
	// writes the keyring, unseal hands it over, and standbys forward on it.
	Raft        RaftNode
	ClusterPort ClusterPort
	// HA, when set and HA-enabled (raft, PostgreSQL with ha_enabled),
	// makes this server one of several on shared storage: unsealed, it
	// stands by until it holds leadership (core/ha.go). APIAddr and
	// ClusterAddr are what it advertises to the others while active;
	// HAEcho, when set, tells the active server at clusterAddr that this
	// standby is alive (sys/ha-status). StepDownWait is how long a server
	// that stepped down waits before it campaigns again (0: 10 s).
	HA                   physical.HABackend
	APIAddr, ClusterAddr string
	HAEcho               func(ctx context.Context, clusterAddr string, self HANode) error
	StepDownWait         time.Duration
}

// Core serves requests. Its methods are safe for concurrent use. While
// sealed it holds no key and answers every request but the pre-auth sys/
// paths with logical.ErrSealed.
type Core struct {
	conf    Config
	logger  *slog.Logger
	barrier *barrier.Barrier
	seal    *seal.Manager
	sys     logical.Backend

	// lifecycle serialises init, unseal and seal.
	lifecycle sync.Mutex
	// state is nil while sealed.
	state atomic.Pointer[active]
	// clusterID and clusterName are what was read at the last unseal.
	clusterID   atomic.Value
	clusterName atomic.Value
	// clusterTLS is set once the cluster port has its keyring.
	clusterTLS atomic.Bool
	// raft is the integrated storage (snapshots), nil on other storage;
	// autoSnap its automated snapshots (raft_snapshot.go).
	raft     raftStorage
	autoSnap *autosnapshot.Manager
	// clustering is the raft clustering state (core/raft.go).
	clustering raftState
	// ha is nil without an HA storage; purge, when set, empties the
	// physical read cache.
	ha    *haRun
	purge func()
	// initLock serialises inits of storage that servers share; nil when
	// the storage has none (see lockInit).
	initLock physical.InitLocker
}

// active is everything that exists only while unsealed.
type active struct {
	router   *router.Router
	tokens   *token.Store
	leases   *lease.Manager
	policies *policyStore
	mounts   *mountTable
	quotas   *quota.Manager
	lockout  *lockout.Guard
	wrapper  *wrapping.Manager
	identity *identity.Store
	audit    *audit.Broker
	stop     context.CancelFunc
	// background counts the goroutines that run while unsealed (the key
	// rotator); Seal waits for them after stop.
	background sync.WaitGroup
}

// New builds a sealed Core over conf.Physical.
func New(conf Config) *Core {
	if conf.Logger == nil {
		conf.Logger = slog.New(slog.DiscardHandler)
	}
	if conf.DefaultLeaseTTL == 0 {
		conf.DefaultLeaseTTL = 768 * time.Hour
	}
	if conf.MaxLeaseTTL == 0 {
		conf.MaxLeaseTTL = 768 * time.Hour
	}
	raft := raftOf(conf.Physical)
	var purge func()
	if p, ok := conf.Physical.(interface{ Purge() }); ok {
		purge = p.Purge
	}
	initLock := physical.FindInitLocker(conf.Physical)
	conf.Physical = conf.Metrics.Physical(conf.Physical, conf.StorageType)
	b := barrier.New(conf.Physical)
	c := &Core{conf: conf, logger: conf.Logger, barrier: b, seal: seal.NewManager(conf.Physical, b), raft: raft, purge: purge,
		initLock: initLock, ha: newHARun(conf.HA)}
	if c.ha != nil && conf.StepDownWait > 0 {
		c.ha.stepDownWait = conf.StepDownWait
	}
	c.autoSnap = c.newAutoSnapshots()
	if raft != nil {
		raft.OnRestore(c.reloadAfterRestore)
	}
	c.clusterID.Store("")
	c.clusterName.Store("")
	c.sys = system.New(sysAdapter{c}, sysTelemetry(conf, system.Info{
		Version: conf.Version, StorageType: conf.StorageType,
		ClusterName: func() string { return c.clusterName.Load().(string) },
		ClusterID:   func() string { return c.clusterID.Load().(string) },
	}))
	c.instrument()
	return c
}

// handleRequest applies the rate-limit quotas, then authenticates,
// authorises and routes one request, recording it and its answer with the
// audit devices (core/audit.go): a request no device could record is
// refused before it reaches its backend. The pre-auth sys/ paths are never
// rate-limited, so an operator can always check and unseal the server, and
// neither are rekey and root generation (served without a token once
// unsealed), so a quorum of share holders can always get a root token back.
func (c *Core) handleRequest(ctx context.Context, req *logical.Request, rs *requestState) (*logical.Response, error) {
	if rest, ok := preAuth(req.Path); ok {
		sub := *req
		sub.Path, sub.Unauthenticated = rest, true
		return c.sys.HandleRequest(ctx, &sub)
	}
	st := c.state.Load()
	if st == nil {
		return nil, c.inactiveError(req)
	}
	if rest, ok := unsealedPreAuth(req.Path); ok {
		sub := *req
		sub.Path, sub.Unauthenticated = rest, true
		return c.sys.HandleRequest(ctx, &sub)
	}
	// Before authentication, as Vault does: a flood costs no token lookup.
	if err := applyQuota(st.quotas, req); err != nil {
		return nil, err
	}
	rec := &rs.audit
	rec.in.Request = req
	resp, err := c.route(ctx, st, req, rs)
	return c.auditResponse(ctx, st, rec, resp, err)
}

// requestState is what the core keeps of one request, allocated once
// (HandleRequest) where its parts would take an allocation each: the
// telemetry record's context, the context carrying the token entry used,
// the request as routed, its Auth and the audit record. It belongs to its
// request alone and is never reused.
type requestState struct {
	record telemetry.RecordContext
	used   token.UsedEntryContext
	sub    logical.Request
	auth   logical.Auth
	audit  auditRecord
}

// route authenticates, authorises, records the request with the audit
// devices and routes it; rs.audit learns what the audit entries need.
func (c *Core) route(ctx context.Context, st *active, req *logical.Request, rs *requestState) (*logical.Response, error) {
	rec := &rs.audit
	if wrapping.TakesToken(req.Path) {
		// As Vault's HTTP layer does: a bad wrapping token is a 400 that
		// says so, before authorisation would call it a 403.
		if err := st.wrapper.Check(ctx, req.ClientToken, req.Data); err != nil {
			return nil, err
		}
	}
	route, rest := st.router.Match(req.Path)
	sub := &rs.sub
	*sub = *req
	sub.Path = rest
	var te *token.Entry
	if !servedWithoutToken(route, rest) {
		var err error
		if te, err = c.authorize(ctx, st, route, req, sub, &rs.auth); err != nil {
			return nil, err
		}
		ctx = token.WithUsedEntryIn(&rs.used, ctx, te)
	} else {
		sub.Unauthenticated = true
	}
	if route == nil {
		return nil, logical.CodedError(logical.ErrUnsupportedPath, "no handler for route %q", req.Path)
	}
	sub.Storage, sub.MountPoint, sub.MountType, sub.MountAccessor = route.Storage, route.Path, route.Type, route.Accessor
	noteRoute(ctx, route, sub)
	// A backend sees only the headers its mount was tuned to pass through.
	sub.Headers = passthrough(req.Headers, route.PassthroughHeaders)
	// Fail closed: nothing is served that no audit device recorded.
	if err := rec.logRequest(ctx, st, route, sub, te); err != nil {
		return nil, err
	}
	release, err := admitRequest(route.Backend, route.Path)
	if err != nil {
		return nil, err
	}
	// Logins go through user lockout; everything else straight through.
	resp, err := st.lockout.Run(ctx, route.Backend, sub)
	if err == nil {
		// Before a used-up token goes below, so that its revocation
		// finds the lease it obtained.
		err = registerLease(ctx, st, req.Path, te, resp)
	}
	release()
	if te != nil && te.NumUses == 1 {
		// That was the token's last use: it goes now that it has served.
		if rerr := st.tokens.Revoke(context.WithoutCancel(ctx), te.Hash); rerr != nil {
			c.logger.ErrorContext(ctx, "revoke used-up token", "accessor", te.Accessor, "error", rerr.Error())
		}
	}
	if err == nil && resp != nil && resp.Auth != nil && route.Type != tokenTypeName {
		resp, err = c.issueLoginToken(ctx, st, route.Accessor, req.Path, resp)
	}
	if err != nil {
		return resp, err
	}
	return wrapResponse(ctx, st, req, route.Type, resp)
}

// applyQuota spends one request of the client's allowance, reporting the
// bucket on req for the X-Ratelimit-* headers when they are enabled.
func applyQuota(q *quota.Manager, req *logical.Request) error {
	if req.RateLimit.Applied {
		return nil
	}
	req.RateLimit.Applied = true
	d := q.Take(req.Path, quota.ClientHost(req.RemoteAddr))
	if d.Headers && d.Counted {
		req.RateLimit = logical.RateLimitStatus{Set: true, Limit: d.Limit, Remaining: d.Remaining, Reset: d.Reset}
	}
	if !d.Allowed {
		return &logical.RateLimitedError{Path: req.Path, RetryAfter: d.RetryAfter}
	}
	return nil
}

// preAuth reports whether path is a sys/ path served without a token and
// while sealed, returning it relative to "sys/".
func preAuth(path string) (string, bool) { return sysPathIn(path, system.PreAuthPaths) }

// unsealedPreAuth reports whether path is a sys/ path served without a
// token and never rate-limited, but only while unsealed (rekey and root
// generation), returning it relative to "sys/".
func unsealedPreAuth(path string) (string, bool) {
	return sysPathIn(path, system.UnsealedPreAuthPaths)
}

// sysPathIn reports whether path is "sys/" followed by one of paths.
func sysPathIn(path string, paths []string) (string, bool) {
	const sys = "sys/"
	if len(path) <= len(sys) || path[:len(sys)] != sys {
		return "", false
	}
	rest := path[len(sys):]
	if slices.Contains(paths, rest) {
		return rest, true
	}
	return "", false
}

// authorize checks the token and the policy for req, and fills sub.Auth
// with auth. The entry returned is read-only (token.Store.Use).
func (c *Core) authorize(ctx context.Context, st *active, route *router.Route, req, sub *logical.Request, auth *logical.Auth) (*token.Entry, error) {
	// Built only when refused: CodedError formats its message.
	denied := func() error { return logical.CodedError(logical.ErrPermissionDenied, "permission denied") }
	if req.ClientToken == "" {
		return nil, denied()
	}
	te, err := st.tokens.Use(ctx, req.ClientToken)
	if err != nil {
		return nil, err
	}
	if te == nil || !logical.AddrInCIDRs(te.BoundCIDRs, req.RemoteAddr) {
		return nil, denied()
	}
	acl, err := tokenACL(ctx, st, te)
	if err != nil {
		return nil, err
	}
	fillAuth(auth, req.ClientToken, te)
	sub.Auth = auth
	op := req.Operation
	if op == logical.UpdateOperation && route != nil {
		if ec, ok := route.Backend.(logical.ExistenceChecker); ok {
			probe := *sub
			probe.Storage = route.Storage
			found, exists, err := ec.ExistenceCheck(ctx, &probe)
			if err != nil {
				return nil, err
			}
			if found && !exists {
				op = logical.CreateOperation
			}
		}
	}
	sub.Operation = op
	res, err := allowed(acl, op, route, req, sub)
	if err != nil {
		return nil, err
	}
	if !res.Allowed || !res.WrapTTLAllowed(req.WrapTTL) {
		return nil, denied()
	}
	sub.Sudo = res.Sudo || res.IsRoot
	if route != nil && route.Special != nil && router.MatchesPattern(route.Special.Root, sub.Path) && !sub.Sudo {
		return nil, logical.CodedError(logical.ErrPermissionDenied, "permission denied: this path requires the sudo capability")
	}
	return te, nil
}

// allowed asks acl whether op may run on req.Path and, outside LIST, on its
// twin without a trailing slash ("sys/mounts/secret/" names the same thing
// as "sys/mounts/secret", so both spellings must be allowed). Parameter
// rules see the parameters as the routed handler will receive them; they
// are parsed once, and only when a rule needs them.
func allowed(acl *policy.ACL, op logical.Operation, route *router.Route, req, sub *logical.Request) (policy.Result, error) {
	var (
		parsed []logical.Param
		perr   error
		done   bool
	)
	params := func() ([]logical.Param, error) {
		if !done {
			done = true
			if route == nil {
				parsed = logical.RawParams(req.Data)
			} else {
				parsed, perr = logical.RequestParams(route.Backend, sub)
			}
		}
		return parsed, perr
	}
	res, err := acl.AllowedParams(op, req.Path, params)
	if err == nil && res.Allowed && op != logical.ListOperation && strings.HasSuffix(req.Path, "/") {
		alt, aerr := acl.AllowedParams(op, strings.TrimSuffix(req.Path, "/"), params)
		res.Allowed, res.Sudo, err = alt.Allowed, res.Sudo && alt.Sudo, aerr
	}
	return res, err
}

// fillAuth describes te in a, which must be zero. The policies and
// metadata are te's own, which may be the token cache's shared entry:
// a backend reads req.Auth, never changes it, and the policies are
// clipped so that an append copies them.
func fillAuth(a *logical.Auth, id string, te *token.Entry) {
	policies := slices.Clip(te.Policies)
	*a = logical.Auth{
		ClientToken: id, Accessor: te.Accessor, Policies: policies, TokenPolicies: policies,
		Metadata: te.Meta, DisplayName: te.DisplayName, Orphan: te.Orphan, NumUses: te.NumUses, TokenType: te.Type,
		EntityID: te.EntityID,
	}
}

// issueLoginToken turns the Auth a login returned into a real token, with
// the auth mount's TTLs: its default when the method set none, and its
// maximum as the hard limit of a token that is not periodic. The identity
// the method proved (Auth.Alias) names the token's entity first.
func (c *Core) issueLoginToken(ctx context.Context, st *active, accessor, path string, resp *logical.Response) (*logical.Response, error) {
	ent, err := attachEntity(ctx, st, accessor, resp.Auth)
	if err != nil {
		return nil, err
	}
	if m, ok := st.mounts.MountFor(path); ok {
		a := resp.Auth
		if a.LeaseDuration == 0 {
			a.LeaseDuration = m.DefaultLeaseTTL
		}
		if w := token.CapPeriod(&a.Period, m.MaxLeaseTTL); w != "" {
			resp.AddWarning(w)
		}
		if a.Period == 0 && (a.ExplicitMaxTTL == 0 || a.ExplicitMaxTTL > m.MaxLeaseTTL) {
			// Periodic tokens live as long as they are renewed, as in Vault.
			a.ExplicitMaxTTL = m.MaxLeaseTTL
		}
		if a.ExplicitMaxTTL > 0 {
			a.LeaseDuration = min(a.LeaseDuration, a.ExplicitMaxTTL)
		}
	}
	if _, err := st.tokens.CreateFromAuth(ctx, resp.Auth, path); err != nil {
		return nil, err
	}
	reportIdentityPolicies(resp.Auth, ent)
	return resp, nil
}
