package lease

import (
	"context"
	"crypto/subtle"
	"fmt"
	"maps"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// Info is what a lookup reports about a lease.
type Info struct {
	ID          string
	IssueTime   time.Time
	ExpireTime  time.Time
	LastRenewal time.Time
	// TTL is the time left, in whole seconds, never negative.
	TTL time.Duration
	// Renewable is whether a renewal would be accepted now: the secret is
	// renewable and the lease neither expired nor being revoked.
	Renewable bool
}

// Lookup returns what is known about lease id, or nil when there is none
// (a malformed ID names none).
func (m *Manager) Lookup(ctx context.Context, id string) (*Info, error) {
	if _, err := cleanID(id, false); err != nil {
		return nil, nil
	}
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return nil, err
	}
	now := m.now()
	return &Info{
		ID: e.ID, IssueTime: e.IssueTime, ExpireTime: e.ExpireTime, LastRenewal: e.LastRenewal,
		TTL:       max(e.ExpireTime.Sub(now).Round(time.Second), 0),
		Renewable: e.renewError(now) == nil,
	}, nil
}

// OwnedBy reports whether lease id exists and belongs to the token whose
// hash is owner (see OwnerOf). A lease that belongs to no token (one an
// orphan batch token obtained) belongs to no caller, and neither does a
// malformed ID.
func (m *Manager) OwnedBy(ctx context.Context, id, owner string) (bool, error) {
	if _, err := cleanID(id, false); err != nil || owner == "" {
		return false, nil
	}
	e, err := m.load(ctx, id)
	if err != nil || e == nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(e.Token), []byte(owner)) == 1, nil
}

// renewError says why e cannot be renewed at now, or nil.
func (e *entry) renewError(now time.Time) error {
	switch {
	case e.Revocation != nil || !now.Before(e.ExpireTime):
		return ErrExpired
	case !e.Renewable:
		return ErrNotRenewable
	}
	return nil
}

// Renew asks the mount that issued lease id to extend it by increment
// (zero: the engine's choice) and returns the engine's response with the
// lease's ID, new TTL and renewability in its Secret (without InternalData).
// As in Vault, a non-zero increment is the TTL asked for; otherwise the
// engine's TTL, or the mount's default. The TTL is capped so that the
// lease never lives past its issue time plus the smallest of the engine's
// MaxTTL, the mount's max_lease_ttl and the server's, nor past the batch
// token that obtained it; a capped TTL adds a warning. An engine may
// replace the lease's InternalData by returning it in its Secret.
func (m *Manager) Renew(ctx context.Context, id string, increment time.Duration) (*logical.Response, error) {
	if _, err := cleanID(id, false); err != nil {
		return nil, ErrNotFound
	}
	if increment < 0 {
		return nil, userError("increment must not be negative")
	}
	mu := m.lockFor(id)
	mu.Lock()
	defer mu.Unlock()
	e, err := m.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, ErrNotFound
	}
	if err := e.renewError(m.now()); err != nil {
		return nil, err
	}
	mi, ok := m.mounts.Mount(e.Path)
	if !ok {
		return nil, fmt.Errorf("renew lease %q: %w", id, ErrNoMount)
	}
	sec := e.secret()
	sec.Increment = increment
	resp, err := m.mounts.HandleLeaseRequest(ctx, &logical.Request{Operation: logical.RenewOperation, Path: e.Path, Secret: sec})
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.Secret == nil {
		// The engine extended nothing; as Vault, the lease stays as it is.
		return nil, nil
	}
	now := m.now()
	ttl, warning, err := m.renewTTL(e, mi, resp.Secret, increment, now)
	if err != nil {
		return nil, err
	}
	old := e.Index
	if resp.Secret.MaxTTL > 0 {
		e.MaxTTL = resp.Secret.MaxTTL
	}
	if in := resp.Secret.InternalData; in != nil {
		typ := e.Internal[logical.SecretTypeKey]
		e.Internal = maps.Clone(in)
		e.Internal[logical.SecretTypeKey] = typ
	}
	e.TTL, e.ExpireTime, e.LastRenewal = ttl, now.Add(ttl), now
	e.Index = indexName(e.ExpireTime, flagExpiry, e.ID)
	if err := m.save(ctx, e, old); err != nil {
		return nil, err
	}
	m.track(e.ID, e.ExpireTime)
	out := &logical.Response{
		Data: resp.Data, Warnings: resp.Warnings,
		Secret: &logical.Secret{LeaseID: e.ID, TTL: ttl.Round(time.Second), Renewable: e.Renewable},
	}
	if warning != "" {
		out.AddWarning(warning)
	}
	return out, nil
}

// renewTTL computes a renewal's TTL as Vault's CalculateTTL does.
func (m *Manager) renewTTL(e *entry, mi MountInfo, got *logical.Secret, increment time.Duration, now time.Time) (time.Duration, string, error) {
	maxTTL := m.mountMax(mi)
	engineMax := e.MaxTTL
	if got.MaxTTL > 0 {
		engineMax = got.MaxTTL
	}
	if engineMax > 0 && engineMax < maxTTL {
		maxTTL = engineMax
	}
	ttl := increment
	switch {
	case ttl > 0:
	case got.TTL > 0:
		ttl = got.TTL
	default:
		ttl = mi.DefaultTTL
	}
	limit := e.IssueTime.Add(maxTTL)
	if !e.TokenExpire.IsZero() && e.TokenExpire.Before(limit) {
		limit = e.TokenExpire
	}
	left := limit.Sub(now)
	if left <= 0 {
		return 0, "", ErrPastMaxTTL
	}
	if ttl > left {
		return left, fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly",
			ttl.Round(time.Second), left.Round(time.Second)), nil
	}
	return ttl, "", nil
}
