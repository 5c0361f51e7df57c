package token

import (
	"context"
	"strings"
	"time"
)

// Renew extends the life of the token named by hash and returns its entry
// and new TTL. A periodic token renews to its period; any other token to
// increment (or, when zero, the TTL it was created with). Either way the
// result is capped by the explicit max TTL and, for non-periodic tokens, by
// the mount's max TTL, both measured from the creation time. A token
// created against a role renews by the role's current period, and its
// explicit max TTL tightens to the role's if that is lower now. It returns
// ErrBadToken for a token that is not live, ErrNotRenewable for one issued
// non-renewable or without expiry, ErrRoleGone when its role was deleted,
// and ErrPastMaxTTL once no life is left.
func (s *Store) Renew(ctx context.Context, hash string, increment time.Duration) (*Entry, time.Duration, error) {
	mu := s.lockFor(hash)
	mu.Lock()
	defer mu.Unlock()
	e, err := s.get(ctx, hash)
	if err != nil {
		return nil, 0, err
	}
	if !s.live(e) {
		return nil, 0, ErrBadToken
	}
	if !e.Renewable || e.ExpireTime.IsZero() {
		return nil, 0, ErrNotRenewable
	}
	if s.checkRenew != nil && strings.HasPrefix(e.Path, "auth/") && !strings.HasPrefix(e.Path, "auth/token/") {
		c := e.clone()
		if err := s.checkRenew(ctx, c); err != nil {
			return nil, 0, err
		}
		// The method may have given the role's current period and max TTL.
		e.Period, e.ExplicitMaxTTL = c.Period, c.ExplicitMaxTTL
	}
	period, limit, err := s.renewLimits(ctx, e)
	if err != nil {
		return nil, 0, err
	}
	now := s.now()
	ttl := period
	if period == 0 {
		ttl = increment
		if ttl == 0 {
			ttl = e.TTL
		}
		if limit == 0 || s.maxTTL() < limit {
			limit = s.maxTTL()
		}
	}
	if limit > 0 {
		left := e.CreationTime.Add(limit).Sub(now)
		if left <= 0 {
			return nil, 0, ErrPastMaxTTL
		}
		ttl = min(ttl, left)
	}
	e.ExpireTime = now.Add(ttl)
	if err := s.save(ctx, e); err != nil {
		return nil, 0, err
	}
	s.exp.track(hash, e.ExpireTime)
	return e.clone(), ttl, nil
}

// renewLimits returns the period and explicit max TTL a renewal of e uses:
// its own, or for a role's token the role's current ones, as in Vault. The
// period of a token this mount created is capped by the mount's max TTL as
// it is now (a login's was capped by its auth mount's when it was issued).
func (s *Store) renewLimits(ctx context.Context, e *Entry) (time.Duration, time.Duration, error) {
	period, limit, err := s.ownLimits(ctx, e)
	if err == nil && strings.HasPrefix(e.Path, "auth/token/") {
		CapPeriod(&period, s.maxTTL())
	}
	return period, limit, err
}

func (s *Store) ownLimits(ctx context.Context, e *Entry) (time.Duration, time.Duration, error) {
	if e.Role == "" {
		return e.Period, e.ExplicitMaxTTL, nil
	}
	r, err := s.Role(ctx, e.Role)
	if err != nil {
		return 0, 0, err
	}
	if r == nil {
		return 0, 0, ErrRoleGone
	}
	limit := e.ExplicitMaxTTL
	if m := r.Token.ExplicitMaxTTL; m > 0 && (limit == 0 || m < limit) {
		limit = m
	}
	return r.Token.Period, limit, nil
}
