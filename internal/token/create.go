package token

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// CreateRequest describes a token to issue. Zero values mean Vault's
// defaults: policies inherited from the parent, the mount's default TTL,
// unlimited uses, renewable, a service token.
type CreateRequest struct {
	// ID is a caller-chosen token ID; only a root parent (or the core, with
	// a nil parent) may set it. Empty means random.
	ID              string
	Policies        []string
	NoDefaultPolicy bool
	Meta            map[string]string
	// DisplayName is the full display name; empty means "token".
	DisplayName    string
	NumUses        int
	TTL            time.Duration
	ExplicitMaxTTL time.Duration
	Period         time.Duration
	// Renewable nil means true.
	Renewable *bool
	// NoParent makes the token an orphan: revoking its creator leaves it be.
	NoParent bool
	// Sudo says the core found sudo capability on the route, which stands
	// in for root when asking for an orphan or a periodic token.
	Sudo bool
	// Path is the route that issues the token, such as "auth/token/create".
	Path string
	// BoundCIDRs limits where the token may be used from.
	BoundCIDRs []string
	// EntityID is the identity entity of a login's token; only the core
	// (a nil parent) sets it. A child with a parent inherits the parent's
	// entity instead, as in Vault; an orphan created by a token has none.
	EntityID string
	// Type is TypeService (also when empty) or TypeBatch. A batch token
	// cannot have a use limit, a period, an explicit max TTL or a chosen
	// ID, and is never renewable.
	Type string

	// roleName is set by Role.apply.
	roleName string
	// wrapping is set by CreateWrapping, the one way to a token with the
	// response-wrapping policy.
	wrapping bool
}

// Create issues a token and returns its ID and entry. The ID is returned
// once and never stored.
//
// parent is the caller's entry. A non-root parent can only hand out a
// subset of its own policies, cannot choose the ID, needs sudo for an orphan
// or periodic token, and when it has a use limit cannot mint a child with
// more uses than it has left. A batch token cannot create tokens at all. A
// nil parent means the core itself issues the token (a login or the root
// token): no restrictions apply and the token is an orphan. The TTL
// defaults to the mount's default and is capped by the explicit max TTL and
// the mount's max TTL; the parent's own remaining life is no cap, but
// revoking the parent revokes the child (a batch child stops working).
func (s *Store) Create(ctx context.Context, parent *Entry, req CreateRequest) (string, *Entry, error) {
	id, e, _, err := s.create(ctx, parent, req, nil)
	return id, e, err
}

// CreateWithRole is Create against a token role: the role's rules (see
// Role) apply on top of, and in places instead of, the parent's limits; a
// nil role is Create. It also returns warnings for the client.
func (s *Store) CreateWithRole(ctx context.Context, parent *Entry, req CreateRequest, role *Role) (string, *Entry, []string, error) {
	return s.create(ctx, parent, req, role)
}

func (s *Store) create(ctx context.Context, parent *Entry, req CreateRequest, role *Role) (string, *Entry, []string, error) {
	if !req.wrapping && slices.Contains(normalizePolicies(req.Policies, false), wrappingPolicy) {
		return "", nil, nil, ErrWrappingPolicy
	}
	warnings, err := s.checkCreate(parent, &req, role)
	if err != nil {
		return "", nil, nil, err
	}
	if req.Type == TypeBatch {
		e := s.newEntry("", "", parent, &req)
		id, err := s.newBatchID(e)
		if err != nil {
			return "", nil, nil, err
		}
		s.created(e)
		return id, e, warnings, nil
	}
	id := req.ID
	if id == "" {
		if id, err = newTokenID(); err != nil {
			return "", nil, nil, err
		}
	} else if !validCustomID(id) {
		return "", nil, nil, ErrInvalidID
	}
	accessor, err := newAccessor()
	if err != nil {
		return "", nil, nil, err
	}
	e := s.newEntry(id, accessor, parent, &req)
	if err := s.write(ctx, e); err != nil {
		return "", nil, nil, err
	}
	if !e.ExpireTime.IsZero() {
		s.exp.track(e.Hash, e.ExpireTime)
	}
	s.created(e)
	return id, e.clone(), warnings, nil
}

func (s *Store) created(e *Entry) {
	if s.onCreate != nil {
		s.onCreate(e)
	}
}

// checkCreate applies the parent's limits (and the role's, when set) to
// req, filling in inherited policies, and returns the warnings to show.
func (s *Store) checkCreate(parent *Entry, req *CreateRequest, role *Role) ([]string, error) {
	if req.NumUses < 0 {
		return nil, ErrNegativeUses
	}
	if role != nil {
		req.Type = role.tokenType(req.Type)
	}
	switch req.Type {
	case "":
		req.Type = TypeService
	case TypeService, TypeBatch:
	default:
		return nil, ErrInvalidTokenType
	}
	if parent == nil {
		req.NoParent = true
		return nil, checkBatch(req)
	}
	if parent.Type == TypeBatch {
		return nil, ErrBatchParent
	}
	root := parent.IsRoot()
	switch {
	case req.ID != "" && !root:
		return nil, ErrCustomIDDenied
	case req.NoParent && !root && !req.Sudo:
		return nil, ErrOrphanDenied
	case req.Period > 0 && !root && !req.Sudo:
		return nil, ErrPeriodDenied
	}
	if err := checkBatch(req); err != nil {
		return nil, err
	}
	var warnings []string
	if role != nil {
		var err error
		if warnings, err = role.apply(parent, req); err != nil {
			return nil, err
		}
	} else if err := inheritPolicies(parent, req); err != nil {
		return nil, err
	}
	if parent.NumUses > 0 && (req.NumUses == 0 || req.NumUses > parent.NumUses) {
		return nil, ErrUsesExceedParent
	}
	if w := CapPeriod(&req.Period, s.maxTTL()); w != "" {
		warnings = append(warnings, w)
	}
	if req.Type == TypeBatch && slices.Contains(normalizePolicies(req.Policies, false), "root") {
		return nil, ErrBatchRoot
	}
	return warnings, nil
}

// CapPeriod caps *period at the mount's max TTL, as Vault does: a periodic
// token renews to its period for ever, so a period above the max would
// outlive every limit the mount sets. It returns Vault's warning when it
// capped, else "". A max of zero means no limit.
func CapPeriod(period *time.Duration, max time.Duration) string {
	if max <= 0 || *period <= max {
		return ""
	}
	w := fmt.Sprintf("period of %d seconds exceeded the effective max_ttl of %d seconds; period value is capped accordingly",
		int64(*period/time.Second), int64(max/time.Second))
	*period = max
	return w
}

// checkBatch refuses what a batch token cannot have, naming the field as
// Vault does, and makes it non-renewable.
func checkBatch(req *CreateRequest) error {
	if req.Type != TypeBatch {
		return nil
	}
	switch {
	case req.ExplicitMaxTTL > 0:
		return logical.InvalidRequest("batch tokens cannot have %q set", "explicit_max_ttl")
	case req.NumUses != 0:
		return logical.InvalidRequest("batch tokens cannot have %q set", "num_uses")
	case req.Period > 0:
		return logical.InvalidRequest("batch tokens cannot have %q set", "period")
	case req.ID != "":
		return ErrBatchCustomID
	}
	no := false
	req.Renewable = &no
	return nil
}

// inheritPolicies is the rule without a role: no policies requested means
// the parent's; otherwise a non-root parent may only hand out policies it
// holds itself, and never "default" if it lacks it.
func inheritPolicies(parent *Entry, req *CreateRequest) error {
	if len(req.Policies) == 0 {
		req.Policies = slices.DeleteFunc(slices.Clone(parent.Policies), func(p string) bool { return p == "default" })
		if !slices.Contains(parent.Policies, "default") {
			req.NoDefaultPolicy = true
		}
	}
	if parent.IsRoot() {
		return nil
	}
	for _, p := range normalizePolicies(req.Policies, false) {
		if !slices.Contains(parent.Policies, p) {
			return ErrPolicyEscalation
		}
	}
	if !slices.Contains(parent.Policies, "default") {
		// A parent without "default" cannot grant it by omission either.
		req.NoDefaultPolicy = true
	}
	return nil
}

// newEntry builds the entry for a checked request.
func (s *Store) newEntry(id, accessor string, parent *Entry, req *CreateRequest) *Entry {
	now := s.now()
	e := &Entry{
		Hash:           s.mac(id),
		Accessor:       accessor,
		Policies:       normalizePolicies(req.Policies, !req.NoDefaultPolicy),
		Meta:           req.Meta,
		DisplayName:    req.DisplayName,
		NumUses:        req.NumUses,
		CreationTime:   now,
		ExplicitMaxTTL: req.ExplicitMaxTTL,
		Period:         req.Period,
		Renewable:      req.Renewable == nil || *req.Renewable,
		Orphan:         req.NoParent,
		Path:           req.Path,
		Type:           req.Type,
		Role:           req.roleName,
	}
	if e.DisplayName == "" {
		e.DisplayName = "token"
	}
	if len(e.Meta) == 0 {
		e.Meta = nil
	}
	switch {
	case parent == nil:
		e.EntityID = req.EntityID
	case !req.NoParent:
		e.ParentHash, e.EntityID = parent.Hash, parent.EntityID
	}
	e.BoundCIDRs = slices.Clone(req.BoundCIDRs)
	if parent != nil && len(e.BoundCIDRs) == 0 {
		// A bound token cannot mint an unbound one.
		e.BoundCIDRs = slices.Clone(parent.BoundCIDRs)
	}
	e.TTL = s.initialTTL(e.IsRoot(), req)
	if e.TTL > 0 {
		e.ExpireTime = now.Add(e.TTL)
	} else {
		e.Renewable = false
	}
	return e
}

// initialTTL is Vault's rule: periodic tokens live one period (capped by
// the explicit max); root tokens without a TTL never expire; everything
// else gets the requested TTL or the mount default, capped by the explicit
// max and the mount max.
func (s *Store) initialTTL(root bool, req *CreateRequest) time.Duration {
	switch {
	case req.Period > 0:
		if req.ExplicitMaxTTL > 0 {
			return min(req.Period, req.ExplicitMaxTTL)
		}
		return req.Period
	case req.TTL == 0 && root:
		return req.ExplicitMaxTTL
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.defaultTTL()
	}
	ttl = min(ttl, s.maxTTL())
	if req.ExplicitMaxTTL > 0 {
		ttl = min(ttl, req.ExplicitMaxTTL)
	}
	return ttl
}

func (s *Store) defaultTTL() time.Duration {
	if s.system != nil && s.system.DefaultLeaseTTL() > 0 {
		return s.system.DefaultLeaseTTL()
	}
	return DefaultTTL
}

func (s *Store) maxTTL() time.Duration {
	if s.system != nil && s.system.MaxLeaseTTL() > 0 {
		return s.system.MaxLeaseTTL()
	}
	return DefaultTTL
}

// write stores a new entry with its accessor and parent indexes in one
// transaction. It holds the parent's lock so that a parent whose revocation
// has begun cannot gain a child the revocation would miss, and the new
// token's lock so that two creates of one custom ID cannot both succeed.
func (s *Store) write(ctx context.Context, e *Entry) error {
	unlock := s.lockBoth(e.Hash, e.ParentHash)
	defer unlock()
	if old, err := s.load(ctx, e.Hash); err != nil {
		return err
	} else if old != nil {
		return ErrDuplicateID
	}
	ent, err := logical.JSONEntry(idPrefix+e.Hash, e)
	if err != nil {
		return err
	}
	ops := []logical.TxnOp{
		{Entry: ent},
		{Entry: &logical.StorageEntry{Key: accessorPrefix + s.mac(e.Accessor), Value: []byte(e.Hash)}},
	}
	if e.ParentHash != "" {
		p, err := s.load(ctx, e.ParentHash)
		if err != nil {
			return err
		}
		if p == nil || p.Revoking || p.expired(s.now()) {
			return ErrParentRevoked
		}
		ops = append(ops, logical.TxnOp{Entry: &logical.StorageEntry{Key: parentPrefix + e.ParentHash + "/" + e.Hash, Value: []byte{1}}})
	}
	if err := logical.ApplyTxn(ctx, s.storage, ops); err != nil {
		return fmt.Errorf("write token entry: %w", err)
	}
	s.cache.invalidate(e.Hash)
	return nil
}

// lockBoth locks the stripes of a and b (b may be empty) in a fixed order,
// so that two goroutines locking the same pair cannot deadlock.
func (s *Store) lockBoth(a, b string) func() {
	ma := s.lockFor(a)
	if b == "" {
		ma.Lock()
		return ma.Unlock
	}
	mb := s.lockFor(b)
	if ma == mb {
		ma.Lock()
		return ma.Unlock
	}
	first, second := ma, mb
	if stripe(b) < stripe(a) {
		first, second = mb, ma
	}
	first.Lock()
	second.Lock()
	return func() { second.Unlock(); first.Unlock() }
}

// CreateRoot issues a root token: policies ["root"], no TTL, orphan. id
// empty means random; a caller-chosen id is for dev mode.
func (s *Store) CreateRoot(ctx context.Context, id string) (string, error) {
	tok, _, err := s.Create(ctx, nil, CreateRequest{
		ID: id, Policies: []string{"root"}, NoParent: true, DisplayName: "root", Path: "auth/token/root",
	})
	return tok, err
}

// CreateFromAuth issues the token a login produced: an orphan with auth's
// policies (plus "default" unless auth.NoDefaultPolicy), metadata, TTL
// (LeaseDuration; zero means the mount default), explicit max TTL, period,
// use limit, renewability and type (auth.TokenType "batch" or
// "default-batch" asks for a batch token, whose life is then capped by
// ExplicitMaxTTL instead). path is the login path, such as
// "auth/userpass/login/alice"; its mount name prefixes the display name.
// auth.EntityID, set by the core from the identity store, is carried. On
// success auth is filled in with the token, accessor and final values,
// ready to return as a Response's Auth.
func (s *Store) CreateFromAuth(ctx context.Context, auth *logical.Auth, path string) (*Entry, error) {
	for _, p := range auth.Policies {
		if strings.EqualFold(strings.TrimSpace(p), "root") {
			return nil, ErrRootFromLogin
		}
	}
	mount := strings.TrimPrefix(path, "auth/")
	mount, _, _ = strings.Cut(mount, "/")
	if mount == "" {
		mount = "token"
	}
	renewable := auth.Renewable
	req := CreateRequest{
		Policies:        auth.Policies,
		NoDefaultPolicy: auth.NoDefaultPolicy,
		Meta:            auth.Metadata,
		DisplayName:     displayName(mount, auth.DisplayName),
		NumUses:         auth.NumUses,
		TTL:             auth.LeaseDuration,
		ExplicitMaxTTL:  auth.ExplicitMaxTTL,
		Period:          auth.Period,
		Renewable:       &renewable,
		Path:            path,
		BoundCIDRs:      auth.BoundCIDRs,
		EntityID:        auth.EntityID,
	}
	switch auth.TokenType {
	case "", "default", TypeService, RoleTypeDefaultService:
	case TypeBatch, RoleTypeDefaultBatch:
		req.Type = TypeBatch
		if req.ExplicitMaxTTL > 0 {
			// The mount's limit arrives as an explicit max; a batch token
			// cannot carry one, and never lives past its TTL anyway.
			if req.TTL == 0 || req.TTL > req.ExplicitMaxTTL {
				req.TTL = req.ExplicitMaxTTL
			}
			req.ExplicitMaxTTL = 0
		}
	default:
		return nil, ErrInvalidTokenType
	}
	id, e, err := s.Create(ctx, nil, req)
	if err != nil {
		return nil, err
	}
	fillAuth(auth, id, e)
	return e, nil
}

// fillAuth describes e, issued as id, in auth.
func fillAuth(auth *logical.Auth, id string, e *Entry) {
	auth.ClientToken = id
	auth.Accessor = e.Accessor
	auth.Policies = slices.Clone(e.Policies)
	auth.TokenPolicies = slices.Clone(e.Policies)
	auth.Metadata = e.Meta
	auth.DisplayName = e.DisplayName
	auth.LeaseDuration = e.TTL
	auth.Renewable = e.Renewable
	auth.EntityID = e.EntityID
	auth.TokenType = e.Type
	auth.Orphan = e.Orphan
	auth.NumUses = e.NumUses
	auth.ExplicitMaxTTL = e.ExplicitMaxTTL
	auth.Period = e.Period
}
