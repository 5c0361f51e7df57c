package lease

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/token"
)

// Owner ties a lease to a token: revoking the token revokes the lease.
type Owner struct {
	// Token is the hash of the owning token; empty for none.
	Token string
	// Expire, when set, is the latest the lease may live to.
	Expire time.Time
}

// OwnerOf returns the owner of a lease obtained with te, as Vault ties
// them: a service token owns the leases it obtains; a batch token is never
// revoked on its own, so its leases belong to its parent (to no token when
// it is an orphan) and never outlive the batch token. A nil te (a request
// without a token) gives no owner.
func OwnerOf(te *token.Entry) Owner {
	switch {
	case te == nil:
		return Owner{}
	case te.Type == token.TypeBatch:
		return Owner{Token: te.ParentHash, Expire: te.ExpireTime}
	}
	return Owner{Token: te.Hash}
}

// Register records the leased secret s that a request to path (absolute,
// such as "database/creds/app") returned, for owner, and fills in
// s.LeaseID ("<path>/<random>") and s.TTL. The TTL is the secret's, or the
// mount's default_lease_ttl when zero, capped by the secret's MaxTTL, the
// mount's max_lease_ttl, the server's max and the owner's Expire; the
// remaining fields of s are kept. If the lease cannot be stored, the
// secret is revoked at its mount at once, so that nothing outlives its
// record, and the error is returned.
func (m *Manager) Register(ctx context.Context, path string, owner Owner, s *logical.Secret) error {
	if s.SecretType() == "" {
		return ErrNotLeased
	}
	if _, err := cleanID(path, false); err != nil {
		return fmt.Errorf("register a lease for %q: %w", path, err)
	}
	mi, ok := m.mounts.Mount(path)
	if !ok {
		return fmt.Errorf("register a lease for %q: %w", path, ErrNoMount)
	}
	now := m.now()
	ttl, maxTTL := s.TTL, m.mountMax(mi)
	if ttl <= 0 {
		ttl = mi.DefaultTTL
	}
	if s.MaxTTL > 0 && s.MaxTTL < maxTTL {
		maxTTL = s.MaxTTL
	}
	expire := now.Add(min(ttl, maxTTL))
	if !owner.Expire.IsZero() && owner.Expire.Before(expire) {
		expire = owner.Expire
	}
	suffix, err := randomSuffix()
	if err != nil {
		return err
	}
	e := &entry{
		ID: path + "/" + suffix, Path: path, Token: owner.Token, TokenExpire: owner.Expire,
		Renewable: s.Renewable, TTL: expire.Sub(now), MaxTTL: s.MaxTTL, Internal: maps.Clone(s.InternalData),
		IssueTime: now, ExpireTime: expire,
	}
	e.Index = indexName(expire, flagExpiry, e.ID)
	var extra []logical.TxnOp
	if e.Token != "" {
		extra = append(extra, logical.TxnOp{Entry: &logical.StorageEntry{Key: tokenKey(e.Token, e.ID), Value: []byte(e.ID)}})
	}
	if err := m.save(ctx, e, "", extra...); err != nil {
		m.rollback(ctx, e)
		return err
	}
	m.track(e.ID, expire)
	if err := m.ownerGone(ctx, e); err != nil {
		return err
	}
	s.LeaseID, s.TTL = e.ID, expire.Sub(now).Round(time.Second)
	return nil
}

// ownerGone revokes e, just stored, when its owning token was revoked while
// the secret was being made: that revocation may have listed the token's
// leases before e was there, and e would outlive the token. The token
// store deletes a token before it lists its leases, so a token still found
// here lists e when it goes. The error says the request came too late.
func (m *Manager) ownerGone(ctx context.Context, e *entry) error {
	if e.Token == "" || m.exists == nil {
		return nil
	}
	alive, err := m.exists(ctx, e.Token)
	if err != nil || alive {
		return err
	}
	m.logger.Info("the token of a new lease was revoked meanwhile; revoking the lease", "lease_id", e.ID)
	if err := m.Revoke(context.WithoutCancel(ctx), e.ID); err != nil {
		m.logger.Error("could not revoke the lease of a revoked token; it is retried", "lease_id", e.ID, "error", errText(err))
	}
	return logical.CodedError(logical.ErrPermissionDenied, "permission denied: the token was revoked while the request was served")
}

// rollback revokes, at its mount, a secret whose lease could not be
// stored. Best effort: a failure is logged, with the lease ID and path
// only.
func (m *Manager) rollback(ctx context.Context, e *entry) {
	req := &logical.Request{Operation: logical.RevokeOperation, Path: e.Path, Secret: e.secret()}
	if _, err := m.mounts.HandleLeaseRequest(context.WithoutCancel(ctx), req); err != nil {
		m.logger.Error("a secret whose lease could not be stored could not be revoked either", "lease_id", e.ID, "path", e.Path, "error", errText(err))
	}
}
